"""The soak's mixed load: asserts, queries, retractions, conflicting writes and lag probes.

Every worker picks among nodes that are up, so a request only fails by surprise: a request
cut by a fault the runner injected (its node's generation changed meanwhile) is counted as
interrupted, anything else that is not the expected status is an error. Every written fact
has content no other write has (contested pairs differ by value), so a node holding two rows
with one CID is a duplicate and a missing id is a lost fact.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from ledger import Lag, Ledger, Written

POLL_CAP_S = 180.0


@dataclass(slots=True)
class Target:
    """One node as the load sees it."""

    name: str
    url: str
    admin_key: str
    up: bool = True
    generation: int = 0
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = self._client()

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=30.0, trust_env=False,
        )  # fmt: skip

    async def renew(self) -> None:
        """A fresh connection pool (after a restart the old connections are dead)."""
        await self.http.aclose()
        self.http = self._client()

    @property
    def source(self) -> str:
        return f"stigmem://soak/agent/{self.name}"


@dataclass(slots=True)
class Rates:
    writes_per_s: float = 20.0
    reads_per_s: float = 20.0
    probes_per_s: float = 1.0
    contest_every_s: float = 5.0
    retract_share: float = 0.1
    cross_retractions: bool = False  # half the retractions come from another node


class Load:
    def __init__(self, targets: list[Target], ledger: Ledger, rates: Rates, seed: int) -> None:
        self.targets = targets
        self.ledger = ledger
        self.rates = rates
        self.rng = random.Random(seed)
        self.run = uuid.uuid4().hex[:8]
        self.counter = 0
        self.stop = asyncio.Event()
        self.pollers: set[asyncio.Task[None]] = set()
        # Recent item facts: what readers query and what each node may retract.
        self.recent: collections.deque[Written] = collections.deque(maxlen=500)
        self.own: dict[str, collections.deque[Written]] = {
            t.name: collections.deque(maxlen=200) for t in targets
        }

    # -- plumbing --------------------------------------------------------------------------
    def live(self) -> list[Target]:
        return [t for t in self.targets if t.up]

    def pick(self, exclude: Target | None = None) -> Target | None:
        choices = [t for t in self.live() if t is not exclude]
        return self.rng.choice(choices) if choices else None

    async def call(
        self, target: Target, method: str, path: str, expect: tuple[int, ...], **kw: Any
    ) -> httpx.Response | None:
        generation = target.generation
        self.ledger.requests += 1
        try:
            response = await target.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            if target.generation != generation or not target.up:
                self.ledger.interrupted += 1
            else:
                self.ledger.error(f"{target.name} {method} {path}: {exc!r}")
            return None
        if response.status_code not in expect:
            self.ledger.error(
                f"{target.name} {method} {path}: {response.status_code} {response.text[:200]}"
            )
            return None
        return response

    def body(self, target: Target, entity: str, value: str, scope: str) -> dict[str, Any]:
        return {
            "entity": entity, "relation": "memory:soak", "source": target.source,
            "value": {"type": "string", "v": value}, "scope": scope,
        }  # fmt: skip

    async def write(self, target: Target, body: dict[str, Any], kind: str) -> Written | None:
        response = await self.call(target, "POST", "/v1/facts", (201,), json=body)
        if response is None:
            return None
        fact = response.json()
        written = Written(fact["id"], fact["cid"], target.name, kind, body, time.monotonic())
        self.ledger.written[written.fact_id] = written
        return written

    async def every(self, interval: float) -> bool:
        """Sleep one interval; False once the load is stopping."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=interval)
        except TimeoutError:
            return True
        return False

    # -- workers ---------------------------------------------------------------------------
    async def writer(self, per_s: float) -> None:
        while await self.every(1.0 / per_s):
            target = self.pick()
            if target is None:
                continue
            if self.rng.random() < self.rates.retract_share and await self.retract(target):
                continue
            self.counter += 1
            entity = f"stigmem://soak/item/{self.run}-{self.counter}"
            scope = self.rng.choice(("company", "public"))
            item = await self.write(
                target, self.body(target, entity, uuid.uuid4().hex, scope), "item"
            )
            if item is not None:
                self.recent.append(item)
                self.own[target.name].append(item)

    async def retract(self, target: Target) -> bool:
        """Retract an earlier fact (same content, confidence 0): one of ``target``'s own, or
        with ``cross_retractions`` sometimes another node's that ``target`` already holds."""
        owner = target
        if self.rates.cross_retractions and self.rng.random() < 0.5:
            owner = self.pick(exclude=target) or target
        mine = self.own[owner.name]
        if not mine:
            return False
        original = self.rng.choice(mine)
        body = {**original.body, "confidence": 0.0}
        if owner is not target:
            held = await self.call(target, "GET", f"/v1/facts/{original.fact_id}", (200, 404))
            if held is None or held.status_code != 200:
                return False
            body["source"] = target.source  # another agent retracts it
        mine.remove(original)
        self.ledger.retracted[original.fact_id] = ""
        done = await self.write(target, body, "retraction")
        if done is None:
            del self.ledger.retracted[original.fact_id]
        else:
            self.ledger.retracted[original.fact_id] = done.fact_id
        return True

    async def reader(self) -> None:
        while await self.every(1.0 / self.rates.reads_per_s):
            target = self.pick()
            if target is None:
                continue
            if self.recent and self.rng.random() < 0.7:
                entity = self.rng.choice(self.recent).body["entity"]
                await self.call(target, "GET", "/v1/facts", (200,), params={"entity": entity})
            elif self.rng.random() < 0.5:
                await self.call(target, "GET", "/v1/conflicts", (200,), params={"limit": 10})
            else:
                await self.call(target, "GET", "/v1/facts", (200,), params={"limit": 20})

    async def contender(self) -> None:
        """Two nodes write different values to one triple at once: a conflict everywhere."""
        while await self.every(self.rates.contest_every_s):
            first = self.pick()
            second = self.pick(exclude=first) if first else None
            if first is None or second is None:
                continue
            self.counter += 1
            entity = f"stigmem://soak/contested/{self.run}-{self.counter}"
            a, b = await asyncio.gather(*(
                self.write(t, self.body(t, entity, f"from-{t.name}", "public"), "contested")
                for t in (first, second)
            ))  # fmt: skip
            if a is not None and b is not None:
                self.ledger.contested.append((a.fact_id, b.fact_id))

    async def prober(self) -> None:
        while await self.every(1.0 / self.rates.probes_per_s):
            origin = self.pick()
            if origin is None:
                continue
            self.counter += 1
            entity = f"stigmem://soak/probe/{self.run}-{self.counter}"
            probe = await self.write(origin, self.body(origin, entity, "probe", "public"), "probe")
            if probe is None:
                continue
            for target in self.live():
                if target is not origin:
                    task = asyncio.create_task(self.poll(probe, target))
                    self.pollers.add(task)
                    task.add_done_callback(self.pollers.discard)

    async def poll(self, probe: Written, target: Target) -> None:
        """Wait (polling with a growing pause) until ``probe`` is readable on ``target``."""
        pause = 0.05
        while time.monotonic() - probe.acked_at < POLL_CAP_S:
            if target.up:
                try:
                    response = await target.http.get(f"/v1/facts/{probe.fact_id}")
                except httpx.HTTPError:
                    response = None  # the node is being restarted: keep waiting
                if response is not None and response.status_code == 200:
                    lag = Lag(probe.origin, target.name, probe.acked_at, time.monotonic())
                    self.ledger.lags.append(lag)
                    return
                if response is not None and response.status_code != 404:
                    self.ledger.error(f"{target.name} probe poll: {response.status_code}")
                    return
            await asyncio.sleep(pause)
            pause = min(pause * 1.2, 0.5)
        self.ledger.probes_lost += 1

    async def run_all(self) -> None:
        writers = [self.writer(self.rates.writes_per_s / 4) for _ in range(4)]
        await asyncio.gather(*writers, self.reader(), self.contender(), self.prober())
