"""The GraphQL API: its schema and resolvers, the HTTP and WebSocket views, and input checks."""
