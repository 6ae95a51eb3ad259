"""Facts: the typed, immutable, attributable statements a node stores and serves."""
