"""npe2 writer hooks and the "Save as MLArray…" command (the work is in :mod:`..layers`).

What a selection of several layers becomes (an image file, its ``_seg`` files, boxes as ``bbox``) is
:func:`..layers._to_files.files_from_layers`. Every write is atomic (``MLArray.save`` writes a temporary
file and renames it), so saving over the file a layer was read from is safe: the layer's memory-mapped
data keeps reading the old (unlinked) file until the layer is closed.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable, ParamSpec

from mlarray import MLArray

from ..layers._from_layers import meta_from_shapes, mlarray_from_layer
from ..layers._to_files import LayerData, LayerSaveError, files_from_layers

__all__ = ["LayerSaveError", "write_image", "write_labels", "write_shapes", "write_layers", "save_layers"]

_P = ParamSpec("_P")


def _reported(hook: Callable[_P, list[str]]) -> Callable[_P, list[str]]:
    """Re-raise a refusal from inside a writer (ValueError, MetadataError) as :class:`LayerSaveError`."""

    @functools.wraps(hook)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> list[str]:
        try:
            return hook(*args, **kwargs)
        except ValueError as exc:
            raise LayerSaveError(f"Cannot save as MLArray: {exc}") from exc

    return run


def _mla_path(path: str | os.PathLike[str]) -> str:
    p = os.fspath(path)
    return p if p.lower().endswith(".mla") else p + ".mla"


def _save(ml: MLArray, path: str) -> None:
    """``ml.save(path)``, driving a napari progress bar while the pixels are written in a napari session."""
    if "napari" not in sys.modules:  # a script writing without napari keeps napari unimported
        ml.save(path)
        return
    from napari.utils import progress

    bars: list[Any] = []

    def cb(i: int, n: int) -> None:
        if not bars or bars[-1].total != n:
            if bars:
                bars[-1].close()
            bars.append(progress(total=n, desc=f"Saving {Path(path).name}"))
        bars[-1].n = i
        bars[-1].refresh()

    try:
        ml.save(path, progress=cb)
    finally:
        if bars:
            bars[-1].close()


def _write(files: Iterable[tuple[str, MLArray]]) -> list[str]:
    written = []
    for target, ml in files:
        _save(ml, target)
        written.append(target)
    return written


@_reported
def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer for Image layers."""
    path = _mla_path(path)
    return _write([(path, mlarray_from_layer(data, meta, "image"))])


@_reported
def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer for Labels layers (``is_seg`` files)."""
    path = _mla_path(path)
    return _write([(path, mlarray_from_layer(data, meta, "labels"))])


@_reported
def write_shapes(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer for Shapes layers: a metadata-only file holding the boxes."""
    path = _mla_path(path)
    return _write([(path, MLArray(meta=meta_from_shapes(list(data), meta)))])


@_reported
def write_layers(path: str, layer_data: list[LayerData]) -> list[str]:
    """npe2 multi-layer writer (what goes where: :mod:`..layers._to_files`)."""
    return _write(files_from_layers(_mla_path(path), layer_data))


def save_layers(layers: Iterable[Any], path: str) -> list[str]:
    """Save napari layers to ``path`` (one layer: its own writer; several: :func:`write_layers`)."""
    tuples = [layer.as_layer_data_tuple() for layer in layers]
    if not tuples:
        raise LayerSaveError("Cannot save as MLArray: no layers selected; select the layers to save first")
    if len(tuples) == 1:
        data, state, kind = tuples[0]
        hook = {"image": write_image, "labels": write_labels, "shapes": write_shapes}.get(kind)
        if hook is None:
            raise LayerSaveError(f"Cannot save as MLArray: a {kind} layer has no MLArray form; "
                                 "select image, labels or shapes layers")
        return hook(path, data, state)
    return write_layers(path, tuples)
