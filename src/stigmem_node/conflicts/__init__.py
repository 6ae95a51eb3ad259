"""Contradictions: two live facts on one (entity, relation, scope) with different values.

Conflicts are facts about facts, so this feature's transactions compose the facts store's
``_txn`` functions directly: a resolution, its meta-facts and its retractions commit together.
"""
