"""Safety judges: safe/unsafe verdicts and the response taxonomy for model responses."""

from .base import (
    COMPLIANCE_LABELS,
    DIRECT_REFUSAL,
    FULL_COMPLIANCE,
    INDIRECT_REFUSAL,
    JUDGES,
    PARTIAL_COMPLIANCE,
    REFUSALS,
    Judge,
    Verdict,
    create_judge,
)

__all__ = [
    "COMPLIANCE_LABELS",
    "DIRECT_REFUSAL",
    "FULL_COMPLIANCE",
    "INDIRECT_REFUSAL",
    "JUDGES",
    "PARTIAL_COMPLIANCE",
    "REFUSALS",
    "Judge",
    "Verdict",
    "create_judge",
]
