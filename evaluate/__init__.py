"""Evaluation of LLMs on mined prompt sets (installed as `toxmine.evaluate`).

Not built yet: see the evaluation issue. It may import `toxmine.miner`, never the reverse.
"""

from __future__ import annotations

__all__: list[str] = []
