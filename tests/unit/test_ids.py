from __future__ import annotations

import os
import time
import uuid

from stigmem_node.ids import new_time_uuid, new_uuid


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


def test_new_time_uuid_is_a_canonical_version_7_uuid_carrying_the_time() -> None:
    before = time.time_ns() // 1_000_000
    text = new_time_uuid()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before <= int(text.replace("-", "")[:12], 16) <= after


def test_time_uuids_do_not_repeat_and_sort_by_millisecond() -> None:
    ids = [new_time_uuid() for _ in range(50_000)]
    assert len(set(ids)) == 50_000
    millis = [ident[:13] for ident in ids]  # the timestamp's text: 8 hex, "-", 4 hex
    assert millis == sorted(millis)
