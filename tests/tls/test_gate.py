"""The start-up gate: each insecure posture is refused with one line naming the variable to
set, in-process (``create_app``) and as a real ``stigmem-node`` process (exit status 2)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from stigmem_node.app import create_app
from stigmem_node.config import Settings, SettingsError
from stigmem_node.tls.gate import check_startup, is_loopback
from tests.process import clean_environ, module_command
from tests.tls.support import Pki

A = "stigmem:node:gate-a"


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(db_path=tmp_path / "node.db", **overrides)


def refusal(tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        create_app(settings(tmp_path, **overrides))
    message = str(caught.value)
    assert "\n" not in message
    assert not (tmp_path / "node.db").exists()  # refused before anything was opened
    return message


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:8765", True),
        ("http://127.0.0.1:1", True),
        ("http://127.8.9.10", True),
        ("https://[::1]:8765", True),
        ("http://node-a:8765", False),
        ("https://10.0.0.1", False),
        ("http://localhost.example.org", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_federation_without_mtls_needs_the_insecure_flag(tmp_path: Path) -> None:
    for flag in ("federation_enabled", "federation_push_enabled"):
        message = refusal(tmp_path, **{flag: True})
        assert "STIGMEM_FEDERATION_INSECURE=1" in message
        assert "STIGMEM_TLS_CA_BUNDLE" in message


def test_insecure_federation_needs_a_loopback_url_or_the_acknowledgement(
    tmp_path: Path,
) -> None:
    message = refusal(tmp_path, federation_enabled=True, federation_insecure=True,
                      node_url="http://node-a:8765")  # fmt: skip
    assert "STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK=1" in message
    assert "http://node-a:8765" in message
    warnings = check_startup(settings(tmp_path, federation_enabled=True, federation_insecure=True,
                                      node_url="http://node-a:8765",
                                      local_dev_allow_insecure_non_loopback=True))  # fmt: skip
    assert any("without mutual TLS" in w for w in warnings)
    assert check_startup(settings(tmp_path, federation_enabled=True, federation_insecure=True))


def test_auth_off_needs_a_loopback_url_or_the_acknowledgement(tmp_path: Path) -> None:
    message = refusal(tmp_path, auth_required=False, node_url="https://node.example.org")
    assert message.startswith("STIGMEM_AUTH_REQUIRED=false is only allowed with a loopback")
    assert "STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK=1" in message
    acknowledged = settings(tmp_path, auth_required=False, node_url="https://node.example.org",
                            local_dev_allow_insecure_non_loopback=True)  # fmt: skip
    assert any("anonymous callers" in w for w in check_startup(acknowledged))
    assert check_startup(settings(tmp_path, auth_required=False))  # loopback: a warning only
    assert check_startup(settings(tmp_path)) == []


def test_tls_settings_must_fit_together_and_load(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    files = pki.issue("a", A)
    https = "https://127.0.0.1:8765"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tls_cert_path": str(files.cert)}, "set STIGMEM_TLS_KEY_PATH too"),
        ({"tls_key_path": str(files.key)}, "set STIGMEM_TLS_CERT_PATH too"),
        ({"tls_ca_bundle": str(files.ca)}, "STIGMEM_TLS_CA_BUNDLE is set: set"),
        (
            {"tls_cert_path": str(tmp_path / "missing.crt"), "tls_key_path": str(files.key)},
            f"STIGMEM_TLS_CERT_PATH={tmp_path / 'missing.crt'}: no such file",
        ),
        (
            {**files.settings(), "tls_ca_bundle": str(tmp_path / "nope.pem")},
            f"STIGMEM_TLS_CA_BUNDLE={tmp_path / 'nope.pem'}: no such file",
        ),
        (
            {**files.settings(), "tls_key_path": str(pki.issue("b", A).key)},
            "do not load",  # a key of another certificate
        ),
        ({**files.settings(), "tls_ca_bundle": str(files.key)}, "do not load"),
        (files.settings(), "STIGMEM_NODE_URL must be an https:// URL"),
    ]
    for overrides, expected in cases:
        overrides.setdefault("node_url", https)
        if expected.startswith("STIGMEM_NODE_URL"):
            overrides["node_url"] = "http://127.0.0.1:8765"
        assert expected in refusal(tmp_path, **overrides), overrides


def test_mutual_tls_satisfies_the_federation_gate(tmp_path: Path) -> None:
    files = Pki(tmp_path / "pki").issue("a", A)
    ok = settings(tmp_path, federation_enabled=True, node_url="https://node-a.example.org:8765",
                  **files.settings())  # fmt: skip
    assert check_startup(ok) == []
    # TLS without a CA bundle is not mutual: federation still needs the flag.
    server_only = settings(tmp_path, federation_enabled=True, node_url="https://127.0.0.1:1",
                           **files.settings(mutual=False))  # fmt: skip
    with pytest.raises(SettingsError, match="federation needs mutual TLS"):
        check_startup(server_only)


@pytest.mark.process
def test_the_node_process_refuses_with_one_line(tmp_path: Path) -> None:
    env = clean_environ() | {
        "STIGMEM_DB_PATH": str(tmp_path / "x.db"),
        "STIGMEM_NODE_URL": "http://node-a:8765",
        "STIGMEM_FEDERATION_ENABLED": "true",
        "STIGMEM_FEDERATION_INSECURE": "1",
    }
    result = subprocess.run([*module_command()], env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "stigmem-node: STIGMEM_FEDERATION_INSECURE=1 is only allowed with a loopback"
        " STIGMEM_NODE_URL (got http://node-a:8765): configure mutual TLS, or set"
        " STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK=1 on a private development network"
    ]
    assert not (tmp_path / "x.db").exists()
