"""Asynchronous jobs (decay sweeps and lint runs over large scopes): persisted, pollable."""
