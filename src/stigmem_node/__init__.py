"""The Stigmem node."""

__version__ = "0.1.0"
