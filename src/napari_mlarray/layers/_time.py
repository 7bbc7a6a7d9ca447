"""The step and unit napari shows on a file's time axis.

``extra["time_interval"]`` holds the seconds between time points (:mod:`mlarray._metadata.channels`);
``spatial.axis_units``, when it has one entry per axis, may name the time axis' unit (e.g. ``ms``
for a NIfTI repetition time). The step is the interval expressed in that unit, or in seconds when
the file names none, so napari's time slider reads "30 s" rather than "1 pixel".
"""

from __future__ import annotations

from typing import Optional

from mlarray._metadata.channels import time_interval
from mlarray.meta import Meta

__all__ = ["time_steps"]


def _in_unit(seconds: float, unit: str) -> Optional[float]:
    """``seconds`` in ``unit`` (napari's pint registry), None when ``unit`` is not a time unit."""
    try:
        from napari.utils.transforms._units import get_units_from_name

        u = get_units_from_name(unit)
        return float((seconds * get_units_from_name("s")).to(u).magnitude)
    except Exception:  # not a unit, or not a time
        return None


def time_steps(meta: Meta, ndim: Optional[int]) -> dict[int, tuple[float, str]]:
    """``{axis: (step, unit)}`` for the file's ``temporal`` axes with a known interval."""
    labels = [getattr(v, "value", v) for v in (meta.spatial.axis_labels or [])]
    seconds = time_interval(meta.extra)
    if seconds is None or ndim is None or len(labels) != ndim:
        return {}
    units = meta.spatial.axis_units
    out = {}
    for axis, label in enumerate(labels):
        if label != "temporal":
            continue
        unit = units[axis] if units is not None and len(units) == ndim and units[axis] else "s"
        step = _in_unit(seconds, unit)
        out[axis] = (seconds, "s") if step is None else (step, unit)
    return out
