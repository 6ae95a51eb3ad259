"""How long and how hard each mode runs. Every run is bounded in time and in requests."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    rounds: int  # rounds per measurement; the report shows their median
    round_s: float  # seconds of load per round
    warmup_s: float  # unmeasured load before each measurement (caches, connections)
    assert_clients: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    batch_clients: int
    read_clients: int
    sizes: tuple[int, ...]  # pre-loaded database sizes for the read scenarios
    max_requests: int  # per round, over all clients
    budget_s: float  # the whole run; scenarios that would start after it are skipped


SMOKE = Profile(
    name="smoke",
    rounds=1,
    round_s=0.5,
    warmup_s=0.0,
    assert_clients=(1, 8),
    batch_sizes=(100, 500),
    batch_clients=1,
    read_clients=4,
    sizes=(2_000,),
    max_requests=20_000,
    budget_s=240.0,
)

QUICK = Profile(
    name="quick",
    rounds=3,
    round_s=0.8,
    warmup_s=0.2,
    assert_clients=(1, 8, 32),
    batch_sizes=(100, 500),
    batch_clients=1,
    read_clients=8,
    sizes=(100_000,),
    max_requests=100_000,
    budget_s=105.0,
)

FULL = Profile(
    name="full",
    rounds=5,
    round_s=3.0,
    warmup_s=1.0,
    assert_clients=(1, 8, 32),
    batch_sizes=(100, 500),
    batch_clients=1,
    read_clients=8,
    sizes=(100_000, 1_000_000),
    max_requests=300_000,
    budget_s=840.0,
)

PROFILES = {p.name: p for p in (SMOKE, QUICK, FULL)}


def customise(
    profile: Profile,
    *,
    rounds: int | None = None,
    round_s: float | None = None,
    sizes: tuple[int, ...] | None = None,
) -> Profile:
    """``profile`` with command-line overrides applied."""
    changes: dict[str, object] = {}
    if rounds is not None:
        changes["rounds"] = rounds
    if round_s is not None:
        changes["round_s"] = round_s
    if sizes is not None:
        changes["sizes"] = sizes
    return replace(profile, **changes)  # type: ignore[arg-type]
