"""Turn an HTML payload into text: declared charset, then <meta> charset, then detection."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

__all__ = ["decode_html"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(payload: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode an HTML payload; return (text, encoding used).

    Order: the HTTP-declared charset, a `<meta charset>` in the first 2 KB, UTF-8, then
    charset_normalizer's detection. Undecodable bytes are replaced, never raised.
    """
    candidates: list[str] = []
    for name in (declared, _meta_charset(payload)):
        codec = _codec(name)
        if codec is not None and codec not in candidates:
            candidates.append(codec)
    if "utf-8" not in candidates:
        candidates.append("utf-8")
    for codec in candidates:
        try:
            return payload.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    best = from_bytes(payload[:65536]).best()
    codec = _codec(best.encoding) if best is not None else None
    codec = codec or candidates[0]
    return payload.decode(codec, errors="replace"), codec


def _meta_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:2048])
    return match.group(1).decode("ascii", "ignore") if match else None
