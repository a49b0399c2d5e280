"""Opaque pagination cursors: a base64 of the last item's sort key."""

from __future__ import annotations

import base64
import binascii
import json
import math

from cluster.errors import InvalidCursor


def encode_cursor(activity: float, item_id: int) -> str:
    raw = json.dumps([activity, item_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "cursor") -> tuple[float, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        activity, item_id = value
        if isinstance(activity, bool) or isinstance(item_id, bool):
            raise TypeError
        value_f, value_i = float(activity), int(item_id)
        if not math.isfinite(value_f) or abs(value_i) > 2**63 - 1:
            raise ValueError
        return value_f, value_i
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError,
            RecursionError):
        raise InvalidCursor(field) from None
