"""Scoring recall candidates and packing them into a token budget.

``weighted_total = (wL·lexical + wS·semantic + wG·graph + wR·recency) / (wL + wS + wG + wR)``
and ``score = weighted_total × confidence × contradiction penalty`` (wire §2.7; a fresh,
uncontradicted, fully matching fact of confidence 1 scores 0.611111 with the default weights).
Semantic similarity needs embeddings this node does not compute: it is 0. Source trust is
reported in the breakdown but, as upstream, not weighted into the score.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stigmem_node.clock import parse_ts
from stigmem_node.recall.models import RecallWeights

CONTRADICTED_PENALTY = 0.7  # a contradicted fact still shows, below its uncontested peers
DIVERSITY = 0.8  # each further fact of an already-packed entity counts 20 % less
RECENCY_PER_DAY = 0.01  # recency = exp(-0.01 · age in days)


@dataclass(frozen=True, slots=True)
class Signals:
    lexical: float
    graph: float
    hops: int


@dataclass(frozen=True, slots=True)
class Scored:
    seq: int
    record: dict[str, Any]
    breakdown: dict[str, float]
    score: float
    hops: int
    tokens: int

    @property
    def entity(self) -> str:
        return str(self.record["entity"])


def token_estimate(record: dict[str, Any]) -> int:
    value = record["value"]["v"]
    text = f"{record['entity']} {record['relation']} {value} {record['source']}"
    return max(1, len(text) // 4)


def recency(timestamp: str, now: datetime) -> float:
    try:
        age_days = max(0.0, (now - parse_ts(timestamp)).total_seconds() / 86_400)
    except ValueError:
        return 0.0
    return math.exp(-RECENCY_PER_DAY * age_days)


def score(seq: int, record: dict[str, Any], signals: Signals, w: RecallWeights,
          now: datetime) -> Scored:  # fmt: skip
    fresh = recency(record["timestamp"], now)
    total_weight = w.lexical + w.semantic + w.graph + w.recency
    weighted = (w.lexical * signals.lexical + w.graph * signals.graph + w.recency * fresh) / (
        total_weight
    )
    penalty = CONTRADICTED_PENALTY if record["contradicted"] else 1.0
    breakdown = {
        "lexical": round(signals.lexical, 6),
        "semantic": 0.0,
        "graph": round(signals.graph, 6),
        "source_trust": float(record["source_trust"] or 0.0),
        "recency": round(fresh, 6),
        "weighted_total": round(weighted, 6),
    }
    final = round(weighted * float(record["confidence"]) * penalty, 6)
    return Scored(seq, record, breakdown, final, signals.hops, token_estimate(record))


def pack(ranked: list[Scored], budget: int) -> tuple[list[Scored], int, bool]:
    """Greedy packing under ``budget``, spreading picks across entities.

    Repeatedly takes the candidate with the best score discounted by ``DIVERSITY`` per fact
    of its entity already taken; a candidate that no longer fits is left out (``truncated``)
    and smaller ones may still fill the room. Returns (picked, tokens used, truncated).
    """
    heap = [(-s.score, s.seq * -1, 0, index) for index, s in enumerate(ranked)]
    heapq.heapify(heap)
    taken: Counter[str] = Counter()
    picked: list[Scored] = []
    used = 0
    truncated = False
    while heap:
        _, tie, seen, index = heapq.heappop(heap)
        item = ranked[index]
        if taken[item.entity] != seen:  # discount went stale: re-rank with the current one
            fresh = item.score * DIVERSITY ** taken[item.entity]
            heapq.heappush(heap, (-fresh, tie, taken[item.entity], index))
            continue
        if used + item.tokens > budget:
            truncated = True
            continue
        picked.append(item)
        used += item.tokens
        taken[item.entity] += 1
    return picked, used, truncated
