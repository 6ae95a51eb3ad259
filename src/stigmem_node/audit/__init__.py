"""Audit: the append-only record of every change and security decision."""
