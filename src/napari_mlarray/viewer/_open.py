"""The napari viewers open in this session (napari is imported only when a caller already has it)."""

from __future__ import annotations

import sys

__all__ = ["open_viewers"]


def open_viewers() -> list:
    """Every open viewer, the current one included; none while napari is not imported (a script)."""
    if "napari" not in sys.modules:
        return []
    import napari

    viewers = list(getattr(napari.Viewer, "_instances", ()))  # every open viewer (not public)
    try:
        cur = napari.current_viewer()
    except Exception:  # pragma: no cover - no Qt
        cur = None
    if cur is not None and cur not in viewers:
        viewers.append(cur)
    return viewers
