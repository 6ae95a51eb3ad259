"""Authentication and authorisation: API keys, callers, permissions."""
