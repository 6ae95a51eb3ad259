"""The entity graph: live ``ref`` facts are directed edges from their entity to their target.

Edges are read straight from the facts (two partial indexes), so they can never disagree with
them: a retracted, decayed or expired ref fact is no edge, and the garden ACL applies to
edges as to any fact.
"""
