"""Reloading certificate files, and the start-up check of the node's own certificate."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stigmem_node.tls import contexts, devca
from stigmem_node.tls.files import Reloading, TlsFiles
from tests.conftest import start_node
from tests.tls.support import Pki

NODE = "stigmem:node:files"


def test_changed_files_are_reloaded_and_a_bad_change_keeps_the_old(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = Pki(tmp_path / "pki")
    files = pki.issue("n", NODE)
    tls = TlsFiles(files.cert, files.key, files.ca)
    reloading = Reloading("test context", tls.paths, lambda: contexts.server_context(tls))
    first = reloading.current()
    assert reloading.current() is first  # nothing changed: the same context
    # A half-done replacement: a key that belongs to another certificate.
    other = pki.issue("other", NODE)
    devca.write_atomic(files.key, other.key.read_bytes(), 0o600)
    with caplog.at_level(logging.WARNING, logger="stigmem.tls"):
        assert reloading.current() is first
        assert reloading.current() is first  # the failure is logged once per change
    assert len([r for r in caplog.records if "do not load" in r.getMessage()]) == 1
    assert reloading.generation == 0
    # The matching certificate arrives: the next connection uses the new pair.
    devca.write_atomic(files.cert, other.cert.read_bytes(), 0o644)
    second = reloading.current()
    assert second is not first
    assert reloading.generation == 1
    # A file that disappears (mid-replacement) keeps the current context too.
    files.ca.unlink()
    assert reloading.current() is second


async def test_a_certificate_that_does_not_name_the_node_is_reported_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = Pki(tmp_path / "pki").issue("n", "stigmem:node:somebody-else")
    with caplog.at_level(logging.ERROR, logger="stigmem.node"):
        async for _ in start_node(tmp_path, node_id=NODE, node_url="https://127.0.0.1:1",
                                  **files.settings()):  # fmt: skip
            pass
    (message,) = [r.getMessage() for r in caplog.records if "URI SAN" in r.getMessage()]
    assert f"does not name this node ({NODE})" in message
    assert f"stigmem tls issue --node-id {NODE}" in message
