"""The one JSON canonicaliser used for anything hashed or signed.

It reproduces the reference node byte for byte: ``json.dumps(obj, sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` encoded as UTF-8. Floats use Python's shortest
round-trip ``repr`` (``1.0`` stays ``1.0``), which is what makes CIDs agree across nodes.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )
