"""Scenario functions: each starts the servers it needs and records its figures."""
