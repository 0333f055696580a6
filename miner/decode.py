"""Turn an HTML payload into text: declared charset, then <meta> charset, then detection."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

__all__ = ["decode_html"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)

# The encodings of the WHATWG Encoding Standard (what browsers decode HTML with), plus the Python
# codecs of the same families. Anything else a page declares (`undefined`, `punycode`,
# `unicode_escape`, `utf-7`, `rot13`, `base64`...) is ignored: some raise on any input, some
# turn escapes in the text into characters.
_WEB_ENCODINGS = (
    "utf-8 utf-8-sig utf-16 utf-16-le utf-16-be utf-32 utf-32-le utf-32-be ascii latin-1 "
    "iso-8859-2 iso-8859-3 iso-8859-4 iso-8859-5 iso-8859-6 iso-8859-7 iso-8859-8 iso-8859-9 iso-8859-10 "
    "iso-8859-11 iso-8859-13 iso-8859-14 iso-8859-15 iso-8859-16 cp437 cp850 cp852 cp855 cp857 cp862 cp866 "
    "cp874 cp1250 cp1251 cp1252 cp1253 cp1254 cp1255 cp1256 cp1257 cp1258 koi8-r koi8-u koi8-t "
    "mac-roman mac-cyrillic mac-greek mac-turkish mac-latin2 tis-620 "
    "gbk gb2312 gb18030 hz big5 big5hkscs cp950 euc-jp euc-jis-2004 euc-jisx0213 iso-2022-jp iso-2022-jp-2 "
    "shift-jis shift-jis-2004 cp932 euc-kr cp949 johab iso-2022-kr"
)
_TEXT_CODECS = frozenset(codecs.lookup(name).name for name in _WEB_ENCODINGS.split())


def _codec(name: str | None) -> str | None:
    """The Python codec of a declared charset, if it is a web text encoding."""
    if not name or len(name) > 40:
        return None
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    return codec if codec in _TEXT_CODECS else None


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
        except (UnicodeError, LookupError):
            continue
    best = from_bytes(payload[:65536]).best()
    codec = _codec(best.encoding) if best is not None else None
    codec = codec or candidates[0]
    return payload.decode(codec, errors="replace"), codec


def _meta_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:2048])
    return match.group(1).decode("ascii", "ignore") if match else None
