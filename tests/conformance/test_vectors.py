"""Every conformance vector against real node processes, auth on and auth off (CONTRACT §10).

Each vector is one test item. The vectors of one run share one fresh node process and run in
file order on one xdist worker (``xdist_group``; use ``--dist loadgroup``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conformance.runner import ConformanceRun, Response
from tests.conformance.vectors import EXPECTED_VECTOR_COUNT, Vector, check_response, load_vectors
from tests.process import NodeProcess

# ============================================================================================
# Policy. Every entry carries its reason; nothing here weakens a check.
# ============================================================================================

#: Vectors of features teammates are building now: xfail(strict=False) until the feature
#: lands. The lead removes an entry when its feature is merged. Keys: a file or a vector id.
PENDING_FEATURES: dict[str, str] = {}

#: Vectors asserting one auth posture: run only in the named run, skipped in the other.
AUTH_POSTURE_ONLY: dict[str, tuple[str, str]] = {
    "wellknown-auth-disabled": ("auth-off", 'expects "auth":"none", true only with auth off'),
}


@dataclass(frozen=True)
class Expect:
    """A CONTRACT §10 expectation replacing a vector's own (same keys as a vector)."""

    spec: dict[str, Any]
    credentials: bool | None = None  # None: as the run would send the vector


TIME_TRAVEL_NOT_LOADED = (
    Expect(
        {
            "expected_status": 501,
            "expected_nested": {"detail.code": "time_travel_plugin_not_loaded"},
        }
    ),
)
#: CONTRACT §10 "exempt for now": these vectors must get the status §10 names instead.
CONTRACT_EXEMPT_FILES: dict[str, tuple[Expect, ...]] = {
    # as_of is a later feature: upstream's 501 until then (the file requires_plugin time-travel).
    "v2.0/24_time_travel.json": TIME_TRAVEL_NOT_LOADED,
}
CONTRACT_EXEMPT_VECTORS: dict[str, tuple[Expect, ...]] = {
    # Tombstones are a later feature: the route does not exist. An admin gets 404 (never 2xx);
    # without credentials the auth edge answers 401 before routing.
    "tomb-create-response-shape": (
        Expect({"expected_status": 404, "expected_nested": {"detail": "Not Found"}}, True),
        Expect(
            {
                "expected_status": 401,
                "expected_nested": {"detail": "Authorization header required"},
            },
            False,
        ),
    ),
}

RUNS: dict[str, dict[str, str]] = {
    "auth-on": {"STIGMEM_AUTH_REQUIRED": "true"},
    "auth-off": {"STIGMEM_AUTH_REQUIRED": "false"},
}

# ============================================================================================

try:
    VECTORS: list[Vector] = load_vectors()
    LOAD_ERROR = "" if len(VECTORS) == EXPECTED_VECTOR_COUNT else f"found {len(VECTORS)} vectors"
except (OSError, ValueError) as exc:
    VECTORS, LOAD_ERROR = [], f"{type(exc).__name__}: {exc}"
BY_KEY = {v.key: v for v in VECTORS}


def exemption(vector: Vector) -> tuple[Expect, ...] | None:
    return CONTRACT_EXEMPT_VECTORS.get(vector.id) or CONTRACT_EXEMPT_FILES.get(vector.file)


def _marks(vector: Vector, run: str) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.xdist_group(f"conformance-{run}")]
    if run == "auth-off" and vector.requires_auth:
        marks.append(pytest.mark.skip(reason="requires_auth: only meaningful with auth on"))
    posture = AUTH_POSTURE_ONLY.get(vector.id)
    if posture is not None and posture[0] != run:
        marks.append(pytest.mark.skip(reason=f"auth posture: {posture[1]}"))
    pending = PENDING_FEATURES.get(vector.id) or PENDING_FEATURES.get(vector.file)
    if pending is not None:
        marks.append(pytest.mark.xfail(strict=False, reason=pending))
    return marks


PARAMS = [
    pytest.param(run, v.key, id=f"{v.key}[{run}]", marks=_marks(v, run))
    for run in RUNS
    for v in VECTORS
]


class RunPool:
    """The node of each run, started on first use and stopped after the run's last item.

    One fresh node per run; at most one runs at a time. Stopping must be a clean exit
    (status 0, no traceback in the node's output), so crashes and 500s show up.
    """

    def __init__(self, tmp: pytest.TempPathFactory, items: list[pytest.Item]) -> None:
        self._tmp = tmp
        self.active: ConformanceRun | None = None
        self._node: NodeProcess | None = None
        self.finished: set[str] = set()
        self.broken: dict[str, str] = {}
        self.last_item: dict[str, str] = {}
        for item in items:  # this session's items, after selection, in run order
            callspec = getattr(item, "callspec", None)
            if callspec is not None and "conformance_run" in callspec.params:
                self.last_item[callspec.params["conformance_run"]] = item.nodeid

    def get(self, name: str) -> ConformanceRun:
        if self.active is not None and self.active.name == name:
            return self.active
        if name in self.broken:  # fail the rest of the run at once, not one timeout each
            raise AssertionError(f"the {name} node did not start: {self.broken[name]}")
        if name in self.finished:
            raise AssertionError(f"run {name} already finished: its items were reordered")
        self.finish()
        node = NodeProcess(self._tmp.mktemp(f"conformance-{name}"), env=RUNS[name], name=name)
        try:
            node.start()
        except AssertionError as exc:
            self.broken[name] = str(exc)
            raise
        self._node = node
        self.active = ConformanceRun(name, node, VECTORS, auth=node.auth_required)
        return self.active

    def finish(self) -> None:
        """Stop the active run's node, asserting a clean exit."""
        run, node = self.active, self._node
        self.active = self._node = None
        if run is not None and node is not None:
            self.finished.add(run.name)
            run.close()
            node.stop()


@pytest.fixture(scope="module")
def run_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunPool]:
    pool = RunPool(tmp_path_factory, request.session.items)
    try:
        yield pool
    finally:
        pool.finish()


@pytest.fixture
def conformance_run(request: pytest.FixtureRequest, run_pool: RunPool) -> Iterator[ConformanceRun]:
    """The run named by the item's parameter; its node stops after the run's last item."""
    name: str = request.param
    yield run_pool.get(name)
    if run_pool.last_item.get(name) == request.node.nodeid:
        run_pool.finish()


@pytest.mark.process
@pytest.mark.parametrize(("conformance_run", "vector_key"), PARAMS, indirect=["conformance_run"])
def test_vector(conformance_run: ConformanceRun, vector_key: str) -> None:
    run = conformance_run
    vector = BY_KEY[vector_key]
    run.check_order(vector)
    expects = exemption(vector)
    if expects is None:
        response = run.send(vector)
        failures = check_response(vector.data, response.status, response.body)
        report = _report(vector, run, response, failures)
    else:
        report = _check_exempt(run, vector, expects)
    if report:
        pytest.fail(report, pytrace=False)


def _check_exempt(run: ConformanceRun, vector: Vector, expects: tuple[Expect, ...]) -> str:
    """Send the vector once per expectation (the first reply is the one setup reuses)."""
    reports = []
    for expect in expects:
        usual = run.credentials_for(vector)
        credentials = usual if expect.credentials is None else expect.credentials
        if credentials == usual:
            response = run.send(vector)
        else:
            response = run.request(vector.method, vector.path, vector.body, credentials=credentials)
        failures = check_response(expect.spec, response.status, response.body)
        if failures:
            label = "with" if credentials else "without"
            failures = [f"[CONTRACT §10 exemption, {label} credentials] {f}" for f in failures]
            reports.append(_report(vector, run, response, failures))
    return "\n".join(reports)


def _report(vector: Vector, run: ConformanceRun, response: Response, failures: list[str]) -> str:
    if not failures:
        return ""
    creds = "admin key" if run.credentials_for(vector) else "no credentials"
    lines = [
        f"{vector.key} [{run.name}] {vector.method} {vector.path} ({creds})",
        f"  {vector.data.get('description', '')}",
        *(f"  - {f}" for f in failures),
        f"  got {response.describe()}",
    ]
    return "\n".join(lines)


# -- the vector set and the policy lists stay honest ---------------------------------------


def test_vector_set_is_complete() -> None:
    assert not LOAD_ERROR, f"conformance vectors unusable: {LOAD_ERROR}"
    assert len({v.file for v in VECTORS}) == 12


def test_policy_entries_name_real_vectors() -> None:
    ids = {v.id for v in VECTORS}
    files = {v.file for v in VECTORS}
    for key in [*PENDING_FEATURES, *CONTRACT_EXEMPT_VECTORS, *AUTH_POSTURE_ONLY]:
        assert key in ids or key in files, f"stale policy entry {key!r}"
    for key in CONTRACT_EXEMPT_FILES:
        assert key in files, f"stale exemption {key!r}"
    assert all(run in RUNS for run, _ in AUTH_POSTURE_ONLY.values())


def test_every_plugin_file_is_exempt_and_setups_come_first() -> None:
    order = {v.id: v.index for v in VECTORS}
    for v in VECTORS:
        if v.requires_plugin is not None:
            assert v.file in CONTRACT_EXEMPT_FILES, f"{v.key} needs plugin {v.requires_plugin}"
        if v.requires_setup is not None:
            assert order[v.requires_setup] < v.index, f"{v.key}: setup comes later"
