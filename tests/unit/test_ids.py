from __future__ import annotations

import os
import uuid

from stigmem_node.ids import new_uuid


def test_new_uuid_is_a_canonical_version_4_uuid() -> None:
    for _ in range(2000):  # crosses several pool refills
        text = new_uuid()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_new_uuids_do_not_repeat() -> None:
    ids = {new_uuid() for _ in range(50_000)}
    assert len(ids) == 50_000


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    new_uuid()  # the parent's pool now holds unused bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        os.write(write_end, new_uuid().encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert child_id != new_uuid()
