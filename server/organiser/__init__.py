"""What organisers do: sign in, run events, moderate, raffle, export; every action audited."""
