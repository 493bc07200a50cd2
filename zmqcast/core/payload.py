"""Payloads in JSON: UTF-8 text where it decodes, base64 otherwise, and a field that says which.

Event logs, ``--json`` output and snapshot records carry application payloads
this way, so that a reader gets text back as text and any bytes back exactly.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

TEXT = "utf-8"
BINARY = "base64"


def payload_fields(body: bytes) -> dict[str, str]:
    """``{"payload": ..., "encoding": "utf-8" | "base64"}`` for ``body``."""
    try:
        return {"payload": body.decode(TEXT), "encoding": TEXT}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(body).decode("ascii"), "encoding": BINARY}


def payload_bytes(fields: Any) -> bytes:
    """The bytes that :func:`payload_fields` encoded; ValueError if malformed."""
    if not isinstance(fields, dict):
        raise ValueError("payload: must be an object with payload and encoding")
    data, encoding = fields.get("payload"), fields.get("encoding")
    if not isinstance(data, str):
        raise ValueError("payload: must be a string")
    if encoding == TEXT:
        return data.encode(TEXT)
    if encoding == BINARY:
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"payload: bad base64: {exc}") from None
    raise ValueError(f"encoding: must be {TEXT} or {BINARY}, got {encoding!r}")
