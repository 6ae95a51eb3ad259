"""FactValue checking and encoding.

The stored ``value_v`` text is exactly what the reference node stores (``str(v)``, booleans as
``true``/``false``, null as ``null``), because CIDs and attestation signatures hash it. Unlike
upstream, ``v`` must match its ``type``; integers stay integers on the way back out.
"""

from __future__ import annotations

import math
import re
from typing import Any

from stigmem_node.clock import parse_ts

VALUE_TYPES = ("string", "text", "number", "boolean", "datetime", "ref", "null")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_INT = re.compile(r"^-?\d+$")
# Integers travel as 64-bit JSON numbers (orjson, most clients); wider ones cannot round-trip.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class ValueMismatch(ValueError):
    """``v`` does not fit ``type``; the message says why."""


def check_value(value_type: str, v: Any) -> None:
    """Raise ``ValueMismatch`` unless ``v`` is a valid value of ``value_type``."""
    if value_type == "null":
        if v is not None:
            raise ValueMismatch("a null value carries no v")
        return
    if v is None:
        raise ValueMismatch(f"a {value_type} value needs v")
    if value_type in ("string", "text", "ref", "datetime"):
        if not isinstance(v, str):
            raise ValueMismatch(f"v must be a string for type {value_type}")
        if value_type == "ref" and not _URI.match(v):
            raise ValueMismatch("a ref value must be a non-empty URI (scheme:rest)")
        if value_type == "datetime":
            try:
                parse_ts(v)
            except ValueError:
                raise ValueMismatch("v must be an ISO 8601 timestamp for type datetime") from None
        return
    if value_type == "number":
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueMismatch("v must be a JSON number for type number")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueMismatch("v must be a finite number")
        if isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX:
            raise ValueMismatch("v must be an integer within the signed 64-bit range")
        return
    if value_type == "boolean":
        if not isinstance(v, bool):
            raise ValueMismatch("v must be true or false for type boolean")
        return
    raise ValueMismatch(f"unknown value type {value_type!r}")


def encode_v(value_type: str, v: Any) -> str:
    """Upstream's stored text for a (checked) value."""
    if value_type == "null":
        return "null"
    if value_type == "boolean":
        return "true" if v else "false"
    return str(v)


def decode_v(value_type: str, value_v: str) -> Any:
    """The wire value for stored text: numbers as int when they were ints."""
    if value_type == "number":
        return int(value_v) if _INT.match(value_v) else float(value_v)
    if value_type == "boolean":
        return value_v == "true"
    if value_type == "null":
        return None
    return value_v
