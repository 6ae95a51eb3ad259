"""Recall: the facts that best answer a query, packed into an agent's token budget."""
