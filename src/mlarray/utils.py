"""Helpers the published package documents under ``mlarray.utils``."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["is_serializable"]


def is_serializable(d: Any) -> bool:
    """Whether ``d`` can be written as metadata JSON: plain dicts, lists, strings, numbers, bools, None.

    Like the published function this asks ``json.dumps``, so NaN and infinities count as serializable:
    inside ``source``/``extra`` this library stores them as ``{"$float": "NaN"}`` etc.
    """
    try:
        json.dumps(d)
        return True
    except (TypeError, ValueError, OverflowError, RecursionError):
        return False
