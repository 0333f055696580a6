"""WARC reader plug-ins loaded by tests through the registry's `module:Class` path, as a user's
would be."""

from __future__ import annotations

from dataclasses import replace

from toxmine.miner.framing import FramedRecord
from toxmine.miner.warc_parsers import ParsedRecord, parse_plain_or_warcio


class BlindReader:
    """A reader plug-in that cannot read any record (raises on each, as a broken one would)."""

    def __call__(self, framed: FramedRecord) -> ParsedRecord:
        raise ValueError("no idea")


class LyingReader:
    """A reader plug-in that reads every record as a page of another address."""

    def __call__(self, framed: FramedRecord) -> ParsedRecord:
        return replace(parse_plain_or_warcio(framed), target_uri="http://elsewhere/")
