"""A container engine for the image tests, if this machine has a usable one.

Podman (rootful, ``--runtime runc`` where runc is installed, with lowered ulimits as some
sandboxes need) or a Docker CLI with a reachable daemon. Containers use the host's network
and bind 127.0.0.1 only. Registry images are never pulled: the Dockerfile's base image must
already be present (``infra/container/build-base.sh`` makes it from Debian packages).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
PIP_SETTINGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT")


@dataclass(frozen=True, slots=True)
class Engine:
    command: tuple[str, ...]
    podman: bool

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args[:3])} failed: {done.stdout}\n{done.stderr}")
        return done

    def run_flags(self) -> list[str]:
        """Flags every ``run`` gets: host network, limits the sandbox accepts."""
        flags = ["--network", "host"]
        if self.podman:
            flags += ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
        return flags

    def build(self, tag: str) -> None:
        args = ["build", "--network", "host", "-t", tag]
        if self.podman:
            args += ["--format", "docker"]  # keeps HEALTHCHECK (OCI format drops it)
        for name in PIP_SETTINGS:  # a builder behind a proxy or mirror forwards its pip setup
            if os.environ.get(name):
                args += ["--build-arg", f"{name}={os.environ[name]}"]
        cert = os.environ.get("PIP_CERT")
        if cert and self.podman and Path(cert).is_file():
            args += ["-v", f"{cert}:{cert}:ro"]
        # One retry: a build can trip over the engine's own storage (seen once with podman:
        # "layer not known" while copying between stages); a second failure is real.
        if self(*args, str(REPO), timeout=1200, check=False).returncode != 0:
            self(*args, str(REPO), timeout=1200)


def find_engine() -> tuple[Engine | None, str]:
    """The engine, or None and the reason there is none."""
    if shutil.which("podman"):
        runtime = ("--runtime", "runc") if shutil.which("runc") else ()
        engine = Engine(("podman", *runtime), podman=True)
    elif shutil.which("docker"):
        engine = Engine(("docker",), podman=False)
    else:
        return None, "no container engine (podman or docker) on this machine"
    info = engine("info", timeout=60, check=False)
    if info.returncode != 0:
        return None, f"{engine.command[0]} cannot reach a container engine: {info.stderr[:200]}"
    exists = engine("image", "inspect", BASE_IMAGE, timeout=60, check=False)
    if exists.returncode != 0:
        return None, (
            f"base image {BASE_IMAGE} is not present and registries are not used by tests;"
            " build it with infra/container/build-base.sh"
        )
    return engine, ""


def running(engine: Engine, name: str) -> bool:
    state = engine("inspect", "--format", "{{.State.Running}}", name, check=False)
    return state.stdout.strip() == "true"


def wait_healthy(engine: Engine, name: str, url: str, timeout: float = 60.0) -> bool:
    """True once ``url/healthz`` answers 200; False if the container exits first."""
    deadline = time.monotonic() + timeout
    checks = 0
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        checks += 1
        if checks % 5 == 0 and not running(engine, name):
            return False
        time.sleep(0.3)
    raise AssertionError(f"{url}/healthz did not answer 200 within {timeout}s")


def cleanup(engine: Engine, containers: Sequence[str], volumes: Sequence[str]) -> None:
    for name in containers:
        engine("rm", "-f", name, check=False)
    for name in volumes:
        engine("volume", "rm", "-f", name, check=False)
