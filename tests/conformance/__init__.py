"""Conformance vectors run against real node processes."""
