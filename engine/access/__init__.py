"""Who may call: API keys with roles, and per-key rate limits."""
