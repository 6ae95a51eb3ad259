"""Recall: lexical hits (FTS5 + BM25), their graph neighbourhood, scored and packed.

1. Lexical: facts matching the query's terms, ranked by BM25, when at least one fact
   contains half of the terms (``text.min_matches``); ``lexical = ½·BM25/best + ½·coverage``.
   Facts still waiting for the full-text index (``indexer``) are indexed first.
2. Graph (``include_neighbors``): the other facts of the matched entities (hop 0) and of the
   entities within ``depth`` hops over live ``ref`` edges in either direction. A lexical hit
   has ``graph = 1``; a neighbour fact ``1 / (2 + hops)``.
3. Score (``scoring``), keep the best ``limit``, pack greedily under ``token_budget``.

Every read is inside the caller's ``ReadView``: garden ACL and quarantine apply before
anything is scored; retracted, expired and beaten facts are never candidates.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from stigmem_node.auth.caller import Caller
from stigmem_node.clock import parse_ts
from stigmem_node.db import Database
from stigmem_node.errors import BadRequest, NotImplementedYet
from stigmem_node.facts.models import SCOPES
from stigmem_node.facts.service import FactService
from stigmem_node.facts.visibility import ReadView
from stigmem_node.graph.service import GraphService, Reached, traverse
from stigmem_node.graph.store import EdgeFilter
from stigmem_node.recall import scoring, store, text
from stigmem_node.recall.indexer import FullTextIndexer
from stigmem_node.recall.models import RecallRequest
from stigmem_node.recall.scoring import Scored, Signals
from stigmem_node.recall.store import Candidate, Filter

SEED_ENTITIES = 20  # entities of the best lexical hits that seed graph expansion
NEIGHBOR_ENTITIES = 100  # nearest reached entities whose facts join the candidates
FACTS_PER_ENTITY = 20
LEXICAL_CAP = 1000


@dataclass(slots=True)
class RecallService:
    db: Database
    facts: FactService
    graph: GraphService
    indexer: FullTextIndexer

    async def recall(
        self, caller: Caller, req: RecallRequest, *, legacy_format: bool = False
    ) -> dict[str, Any]:
        """The recall response body. Raises 400 (scope, weights) and 501 (``as_of``)."""
        caller.require("read")
        _check(req)
        view = await self.facts.view_for(caller)
        flt = Filter(req.scope, req.min_confidence)
        scored = await self._candidates(req, view, flt)
        ranked = sorted(scored.values(), key=lambda s: (-s.score, -s.seq))
        picked, used, truncated = scoring.pack(ranked[: req.limit], req.token_budget)
        facts = [_wire(s) for s in picked]
        body: dict[str, Any] = {
            "recall_id": str(uuid.uuid4()),
            "query_hash": hashlib.sha256(req.query.encode("utf-8")).hexdigest(),
            "facts": facts,
        }
        if not legacy_format:
            body["content"] = [
                f for f in facts if f["fact"]["value"]["interpret_as"] != "instruction"
            ]
            body["instructions"] = [
                f for f in facts if f["fact"]["value"]["interpret_as"] == "instruction"
            ]
        body.update(
            total_scored=len(scored), token_budget=req.token_budget, tokens_used=used,
            truncated=truncated, tombstone_notices=[], chain_proof=None,
        )  # fmt: skip
        return body

    async def _candidates(
        self, req: RecallRequest, view: ReadView, flt: Filter
    ) -> dict[int, Scored]:
        now = parse_ts(view.now)
        terms = text.query_terms(req.query)
        hits = await self._lexical(terms, view, flt, req.limit)
        scored: dict[int, Scored] = {}
        best = max((c.bm25 for c, _ in hits), default=0.0) or 1.0
        for cand, matched in hits:
            lexical = 0.5 * max(cand.bm25, 0.0) / best + 0.5 * matched / len(terms)
            scored[cand.seq] = scoring.score(
                cand.seq, cand.record, Signals(lexical, 1.0, 0), req.weights, now
            )
        if req.include_neighbors and hits:
            for cand, hops in await self._neighbourhood(req, view, flt, hits):
                if cand.seq not in scored:
                    signals = Signals(0.0, 1.0 / (2 + hops), hops)
                    scored[cand.seq] = scoring.score(
                        cand.seq, cand.record, signals, req.weights, now
                    )
        return scored

    async def _lexical(
        self, terms: list[text.Term], view: ReadView, flt: Filter, limit: int
    ) -> list[tuple[Candidate, int]]:
        """Lexical hits with how many query terms each contains."""
        if not terms:
            return []
        cap = min(LEXICAL_CAP, max(2 * limit, 50))
        args = (view, flt, terms, cap)
        found = await self.db.read("recall_lexical", store.lexical_txn, *args, True)
        if found is None:  # facts committed before this recall are not all indexed yet
            await self.indexer.drain()
            found = await self.db.read("recall_lexical", store.lexical_txn, *args, False)
        assert found is not None
        hits = []
        for cand in found:
            record = cand.record
            matched = text.coverage(
                terms, f"{record['entity']} {record['relation']} {record['value']['v']}"
            )
            hits.append((cand, matched))
        # A query nothing answers well (no fact holds half of its terms) gets no lexical
        # hits at all, rather than facts that share one incidental word with it.
        if max((matched for _, matched in hits), default=0) < text.min_matches(terms):
            return []
        return [(cand, matched) for cand, matched in hits if matched > 0]

    async def _neighbourhood(
        self, req: RecallRequest, view: ReadView, flt: Filter, hits: list[tuple[Candidate, int]]
    ) -> list[tuple[Candidate, int]]:
        """Facts of the hits' entities (hop 0) and of entities up to ``depth`` hops away."""
        seeds: list[str] = []
        for cand, _ in sorted(hits, key=lambda h: -h[0].bm25):
            if cand.record["entity"] not in seeds:
                seeds.append(cand.record["entity"])
            if len(seeds) == SEED_ENTITIES:
                break
        edges = EdgeFilter(req.scope, req.min_confidence)
        reached = await traverse(
            seeds, req.depth, self.graph.both_fetch(view, edges), lambda _: True
        )
        nearest: list[Reached] = sorted(reached.values(), key=Reached.key)[:NEIGHBOR_ENTITIES]
        hops = dict.fromkeys(seeds, 0) | {r.entity: r.hops for r in nearest}
        found = await self.db.read(
            "recall_neighbours", store.entity_facts_txn, view, flt, list(hops), FACTS_PER_ENTITY
        )
        return [(cand, hops[cand.record["entity"]]) for cand in found]


def _check(req: RecallRequest) -> None:
    if req.as_of is not None:
        raise NotImplementedYet(
            {"code": "time_travel_plugin_not_loaded",
             "message": "as_of queries are not available on this node yet"}
        )  # fmt: skip
    if req.scope not in SCOPES:
        raise BadRequest(f"invalid_scope: scope must be one of {', '.join(SCOPES)}")
    w = req.weights
    if w.lexical + w.semantic + w.graph + w.recency <= 0:
        raise BadRequest(
            {"code": "invalid_weights",
             "message": "at least one of lexical, semantic, graph and recency must be above 0"}
        )  # fmt: skip


def _wire(s: Scored) -> dict[str, Any]:
    return {
        "fact": s.record,
        "score": s.score,
        "score_breakdown": s.breakdown,
        "hop_distance": s.hops,
        "token_estimate": s.tokens,
        "from_card": False,
    }
