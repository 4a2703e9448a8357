"""Web side of Lookalike: GraphQL API, pages, leaderboard fan-out."""
