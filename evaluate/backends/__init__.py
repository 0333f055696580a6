"""Model backends behind one batch interface, chosen by a spec string `BACKEND:MODEL`."""

from __future__ import annotations

from .base import BACKENDS, Backend, Completion, backend_option_defaults, create_backend, parse_model_spec

__all__ = ["BACKENDS", "Backend", "Completion", "backend_option_defaults", "create_backend", "parse_model_spec"]
