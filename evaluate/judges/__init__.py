"""Safety judges: safe/unsafe verdicts and the response taxonomy for model responses."""

from .base import (
    COMPLIANCE_LABELS,
    DIRECT_REFUSAL,
    FULL_COMPLIANCE,
    INDIRECT_REFUSAL,
    INVALID,
    JUDGES,
    LABELS,
    PARTIAL_COMPLIANCE,
    REFUSALS,
    SAFE,
    UNSAFE,
    Judge,
    Verdict,
    create_judge,
)

__all__ = [
    "COMPLIANCE_LABELS",
    "DIRECT_REFUSAL",
    "FULL_COMPLIANCE",
    "INDIRECT_REFUSAL",
    "INVALID",
    "JUDGES",
    "LABELS",
    "PARTIAL_COMPLIANCE",
    "REFUSALS",
    "SAFE",
    "UNSAFE",
    "Judge",
    "Verdict",
    "create_judge",
]
