"""Content identifiers, byte-identical to the reference node (wire reference §2.5)."""

from __future__ import annotations

import hashlib
import re
from json.encoder import encode_basestring  # the C encoder json.dumps itself uses

CID_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def compute_cid(
    *,
    entity: str,
    relation: str,
    value_type: str,
    value_v: str,
    source: str,
    confidence: float,
    scope: str,
) -> str:
    """``sha256:`` + SHA-256 of the canonical JSON of the content fields.

    ``entity``/``source`` are the normalised forms and ``value_v`` the stored encoding;
    ``confidence`` is hashed as a Python float (``1`` → ``1.0``).
    """
    # The canonical JSON (``canonical.canonical_bytes``) of the seven fields, written out
    # directly: keys in sorted order, strings escaped exactly as ``json.dumps`` with
    # ``ensure_ascii=False`` does, the float as its ``repr``. Three times faster than building
    # and sorting a dict, on every assert; tests/unit/test_cid.py checks the two agree.
    text = (
        f'{{"confidence":{float(confidence)!r},"entity":{encode_basestring(entity)},'
        f'"relation":{encode_basestring(relation)},"scope":{encode_basestring(scope)},'
        f'"source":{encode_basestring(source)},"value_type":{encode_basestring(value_type)},'
        f'"value_v":{encode_basestring(value_v)}}}'
    )
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_cid(text: str) -> bool:
    return text.startswith("sha256:")
