"""Lint: a read-only health sweep of one scope (contradictions, stale facts, orphans, broken
references, bare relations), with deterministic findings."""
