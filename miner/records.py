"""Dataclasses for what flows between the mining stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class DropReason(str, Enum):
    """Why a WARC record or an extracted document was not kept. Stored in `drops.reason`."""

    NOT_RESPONSE = "not_response"
    HTTP_STATUS = "http_status"
    NOT_HTML = "not_html"
    TOO_LARGE = "too_large"
    BINARY_PAYLOAD = "binary_payload"
    BAD_RECORD = "bad_record"
    PAYLOAD_TRUNCATED = "payload_truncated"  # the crawler cut the page (WARC-Truncated)
    EXTRACT_EMPTY = "extract_empty"
    EXTRACT_TIMEOUT = "extract_timeout"
    EXTRACT_ERROR = "extract_error"
    EXTRACT_MEMORY = "extract_memory"
    EXTRACT_CRASH = "extract_crash"
    TOO_SHORT = "too_short"
    LANG_LOW_CONFIDENCE = "lang_low_confidence"
    LANG_NOT_ALLOWED = "lang_not_allowed"


@dataclass(frozen=True, slots=True)
class HtmlPage:
    """An HTTP 200 HTML response read from a WARC file, payload still as bytes."""

    url: str
    warc_file: str
    warc_record_id: str
    warc_offset: int
    fetch_time: str | None
    payload: bytes
    declared_charset: str | None


@dataclass(frozen=True, slots=True)
class LangGuess:
    """A language-ID decision: normalised code, script (ISO 15924) and confidence."""

    lang: str
    script: str | None
    score: float


@dataclass(slots=True)
class Document:
    """A page whose main text was extracted and whose language was identified."""

    doc_id: str
    url: str
    crawl: str | None
    warc_file: str
    warc_record_id: str
    warc_offset: int
    fetch_time: str | None
    lang: str
    script: str | None
    lang_score: float
    text: str
    text_hash: str
    minhash: bytes
    extractor: str  # the name given to --extractor
    extractor_version: str  # its versions (ExtractorIdentity.version_label)
    dup_of: str | None = None


@dataclass(slots=True)
class DropCounts:
    """Counts of dropped items by reason for one input."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, reason: DropReason, n: int = 1) -> None:
        self.counts[reason.value] = self.counts.get(reason.value, 0) + n

    def total(self) -> int:
        return sum(self.counts.values())
