"""Service installation: the systemd unit and the macOS LaunchAgent, rendered, installed into
a scratch root with stand-in systemctl/launchctl that record their calls, and removed."""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.process import clean_environ, free_port

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "scripts" / "service-install.sh"
UNINSTALL = REPO / "scripts" / "service-uninstall.sh"
SERVER = Path(sys.executable).with_name("stigmem-node")


@pytest.fixture
def box(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME, system root and service managers are scratch stand-ins."""
    calls = tmp_path / "calls.log"
    fake = tmp_path / "bin" / "fakectl"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> {calls}\n')
    fake.chmod(0o755)
    for name in ("systemctl", "launchctl"):
        (fake.parent / name).symlink_to(fake)
    (tmp_path / "home").mkdir()
    return {
        **clean_environ(),
        "HOME": str(tmp_path / "home"),
        "STIGMEM_SERVICE_ROOT": str(tmp_path / "root"),
        "SYSTEMCTL": str(fake.parent / "systemctl"),
        "LAUNCHCTL": str(fake.parent / "launchctl"),
        "XDG_CONFIG_HOME": "",
    }


def run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in env.items() if v != ""}
    return subprocess.run(["bash", str(script), *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def install_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["--exec", str(SERVER), "--data-dir", str(tmp_path / "data"), *extra]


def test_system_unit_install_and_uninstall(box: dict[str, str], tmp_path: Path) -> None:
    env = {**box, "STIGMEM_PORT": "9876", "STIGMEM_NODE_URL": "http://node.example:9876"}
    done = run(INSTALL, env, "--platform", "linux", "--system", "--run-as", "nobody",
               *install_args(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "root" / "etc" / "systemd" / "system" / "stigmem-node.service"
    text = unit.read_text()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert f'ExecStart="{SERVER}"' in text
    assert f'Environment="STIGMEM_DB_PATH={tmp_path}/data/stigmem.db"' in text
    assert 'Environment="STIGMEM_PORT=9876"' in text
    assert "EnvironmentFile=-/etc/stigmem/stigmem.env" in text
    assert "User=nobody" in text
    assert "WantedBy=multi-user.target" in text
    assert "@" not in re.sub(r"(?m)^#.*$", "", text)  # every placeholder filled
    assert calls(tmp_path) == ["systemctl daemon-reload",
                               "systemctl enable --now stigmem-node.service"]  # fmt: skip
    assert (tmp_path / "data").is_dir()
    removed = run(UNINSTALL, box, "--platform", "linux", "--system")
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists()
    assert calls(tmp_path)[2:] == ["systemctl disable --now stigmem-node.service",
                                   "systemctl daemon-reload"]  # fmt: skip
    again = run(UNINSTALL, box, "--platform", "linux", "--system")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout


def test_user_unit_has_no_system_only_lines(box: dict[str, str], tmp_path: Path) -> None:
    done = run(INSTALL, box, "--platform", "linux", "--user", *install_args(tmp_path))
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "home" / ".config" / "systemd" / "user" / "stigmem-node.service"
    text = unit.read_text()
    assert "User=" not in text
    assert "ProtectSystem" not in text
    assert "WantedBy=default.target" in text
    assert "EnvironmentFile=-" + str(tmp_path / "home" / ".config/stigmem/stigmem.env") in text
    assert calls(tmp_path)[-1] == "systemctl --user enable --now stigmem-node.service"
    assert run(UNINSTALL, box, "--platform", "linux", "--user").returncode == 0
    assert not unit.exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("mode", ["--system", "--user"])
def test_rendered_units_pass_systemd_analyze_verify(
    box: dict[str, str], tmp_path: Path, mode: str
) -> None:
    done = run(INSTALL, box, "--platform", "linux", mode, "--run-as", "nobody",
               *install_args(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    [unit] = [*(tmp_path / "root").rglob("*.service"), *(tmp_path / "home").rglob("*.service")]
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    # Only the warning about the placeholder account may appear.
    problems = [ln for ln in verify.stderr.splitlines() if ln and "nobody" not in ln]
    assert problems == []


def test_launch_agent_install_and_uninstall(box: dict[str, str], tmp_path: Path) -> None:
    odd = "http://a&b<c>/x"  # XML-special characters survive the plist
    env = {**box, "STIGMEM_NODE_URL": odd, "STIGMEM_LOG_LEVEL": "debug"}
    done = run(INSTALL, env, "--platform", "macos", *install_args(tmp_path))
    assert done.returncode == 0, done.stderr
    path = tmp_path / "home" / "Library" / "LaunchAgents" / "com.stigmem.node.plist"
    with path.open("rb") as handle:
        agent = plistlib.load(handle)
    assert agent["Label"] == "com.stigmem.node"
    assert agent["ProgramArguments"] == [str(SERVER)]
    assert agent["WorkingDirectory"] == str(REPO)
    assert agent["EnvironmentVariables"] == {
        "STIGMEM_DB_PATH": f"{tmp_path}/data/stigmem.db",
        "STIGMEM_LOG_LEVEL": "debug",
        "STIGMEM_NODE_URL": odd,
    }
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["StandardErrorPath"].endswith("Library/Logs/stigmem-node.log")
    uid = os.getuid()
    assert calls(tmp_path) == [f"launchctl bootstrap gui/{uid} {path}"]
    removed = run(UNINSTALL, box, "--platform", "macos")
    assert removed.returncode == 0, removed.stderr
    assert not path.exists()
    assert calls(tmp_path)[-1] == f"launchctl bootout gui/{uid}/com.stigmem.node"


@pytest.mark.parametrize("platform", ["linux", "macos"])
def test_dry_run_changes_nothing(box: dict[str, str], tmp_path: Path, platform: str) -> None:
    done = run(INSTALL, box, "--dry-run", "--platform", platform, "--user",
               *install_args(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "would write" in done.stdout
    assert "would run:" in done.stdout
    assert calls(tmp_path) == []
    assert not (tmp_path / "data").exists()
    assert list((tmp_path / "home").iterdir()) == []
    removed = run(UNINSTALL, box, "--dry-run", "--platform", platform)
    assert removed.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exec", "/nonexistent/stigmem-node"], "is not an executable; run 'make'"),
        (["--bogus"], "unknown argument: --bogus"),
        (["--platform", "windows"], "--platform must be linux or macos"),
        (
            ["--platform", "linux", "--system", "--run-as", "root"],
            "refusing to run the node as root",
        ),
        (["--data-dir"], "--data-dir needs a value"),
    ],
)
def test_install_refusals(
    box: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    full = ["--exec", str(SERVER), *args] if args[0] != "--exec" else args
    done = run(INSTALL, box, *full)
    assert done.returncode == 2
    assert message in done.stderr
    assert calls(tmp_path) == []
    assert not (tmp_path / "root").exists()


@pytest.mark.process
def test_the_unit_s_command_and_environment_serve_the_node(
    box: dict[str, str], tmp_path: Path
) -> None:
    """Run what the unit runs, with the unit's environment (loopback, a free port)."""
    port = free_port()
    env = {**box, "STIGMEM_HOST": "127.0.0.1", "STIGMEM_PORT": str(port)}
    assert (
        run(INSTALL, env, "--platform", "linux", "--user", *install_args(tmp_path)).returncode == 0
    )
    unit = (tmp_path / "home" / ".config" / "systemd" / "user" / "stigmem-node.service").read_text()
    command = re.search(r'^ExecStart="(.+)"$', unit, re.M)
    assert command is not None
    unit_env = dict(re.findall(r'^Environment="([A-Z_]+)=(.*)"$', unit, re.M))
    workdir = re.search(r"^WorkingDirectory=(.+)$", unit, re.M)
    assert workdir is not None
    proc = subprocess.Popen([command[1]], env={**clean_environ(), **unit_env}, cwd=workdir[1],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the unit's command did not serve"
                time.sleep(0.2)
        assert (tmp_path / "data" / "stigmem.db").is_file()
        assert (tmp_path / "data" / "admin.key").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
