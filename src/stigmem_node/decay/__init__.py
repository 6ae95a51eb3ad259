"""Decay: old facts expire and weak facts are retracted, as new rows (facts never change)."""
