"""A file without a world frame opened beside an anatomical image on the same grid.

A segmentation written as ``MLArray(seg, spacing=img.spacing, origin=img.origin, direction=img.direction)``
(without ``coord_system=img.coord_system``) states where its voxels are but not in which frame, so
it would open in its own axes while the image is shown in the patient frame (:mod:`._geometry`):
no overlay, no orientation letters. When the MLArray layers already in an open viewer include an
anatomical file with exactly this file's spacing, origin and direction, the file is shown in that
file's frame — the only reading under which the equal numbers mean the same voxels — and a warning
(once per file) says so and how to fix the file. Opened the other way round (the unframed file
first), the image's reading warns about the file already shown in its own axes.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Optional

import numpy as np

from mlarray.affines import anatomical_letters
from mlarray.meta import Meta, compose_affine_or_none

from ..viewer._open import open_viewers

__all__ = ["frame_beside_open_layers"]

_UNFRAMED = (None, "", "unknown")
_warned: set = set()


def _framed(coord_system: Any) -> bool:
    return anatomical_letters(coord_system) is not None


def _unframed(coord_system: Any) -> bool:
    return coord_system is None or str(coord_system).strip().lower() in _UNFRAMED


def _grid(spatial: dict) -> Optional[np.ndarray]:
    """The file's index -> world affine from its ``spatial`` mapping (None without stated geometry)."""
    if all(spatial.get(k) is None for k in ("spacing", "origin", "direction")):
        return None
    try:
        return compose_affine_or_none(spatial.get("spacing"), spatial.get("origin"), spatial.get("direction"))
    except (TypeError, ValueError):  # a layer whose metadata the user replaced: no grid to compare
        return None


def _same_grid(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-6)


def _mlarray_files(layers: Iterable[Any]) -> list[tuple[str, Any, dict]]:
    """``(layer name, file name, spatial mapping)`` of the MLArray image/labels layers among ``layers``."""
    out = []
    for ly in layers:
        md = getattr(ly, "metadata", None)
        if not (isinstance(md, dict) and "mlarray_role" in md and isinstance(md.get("mlarray"), dict)):
            continue
        spatial = md["mlarray"].get("spatial")
        if isinstance(spatial, dict):
            out.append((ly.name, md.get("mlarray_path") or ly.name, spatial))
    return out


def _warn_once(key: tuple, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def _fix(path: Any) -> str:
    return (f"give the file the image's frame: MLArray(..., spacing=img.spacing, origin=img.origin, "
            f"direction=img.direction, coord_system=img.coord_system) when writing it, or for this file "
            f"`m = MLArray.open({str(path)!r}, mmap_mode='r+'); m.coord_system = <the image's>; m.close()`")


def frame_beside_open_layers(meta: Meta, name: str, path: Any) -> Optional[str]:
    """The coord_system to show an unframed file in (see the module docstring), else None.

    For an anatomical file, warns about unframed files on its grid already shown in their own axes.
    """
    sp = meta.spatial
    own = _grid({"spacing": sp.spacing, "origin": sp.origin, "direction": sp.direction})
    if own is None:
        return None
    files = [f for v in open_viewers() for f in _mlarray_files(v.layers)]
    if _unframed(sp.coord_system):
        for layer_name, other, spatial in files:
            grid = _grid(spatial)
            cs = spatial.get("coord_system")
            if grid is not None and _framed(cs) and _same_grid(own, grid):
                _warn_once(("borrowed", str(path)),
                           f"{name} has no coord_system but the spacing, origin and direction of {layer_name} "
                           f"({cs}), so it is shown in that frame, over it (saving it from napari writes "
                           f"coord_system {cs!r}). To open it so anywhere, {_fix(path)}.")
                return str(cs)
    elif _framed(sp.coord_system):
        for layer_name, other, spatial in files:
            grid = _grid(spatial)
            if grid is not None and _unframed(spatial.get("coord_system")) and _same_grid(own, grid):
                _warn_once(("unframed", str(other)),
                           f"{layer_name} has no coord_system, so it is shown in its own axes, not over {name} "
                           f"({sp.coord_system}) although it has the same spacing, origin and direction. Remove "
                           f"it and open it again to see it over {name}, or {_fix(other)}.")
    return None
