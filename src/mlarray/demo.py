"""``mlarray demo``: write a synthetic CT, its segmentation and boxes, and open them in napari.

GUI-free at import time: napari is imported only when a viewer is requested, so the files can be
written (and this module imported) on machines without a display or without napari.

The files share one LPS geometry: axis 0 runs inferior→superior (pelvis to thorax), axis 1
anterior→posterior and axis 2 towards the patient's left, as in :mod:`mlarray.samples`.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional, Union

from . import samples
from ._array import MLArray
from ._errors import MetadataError, MLArrayError
from .meta import Meta, MetaBbox, MetaSpatial

__all__ = ["run_demo", "write_sample_files", "sample_shape", "SAMPLE_NAMES", "DEFAULT_SIZE", "PLUGIN_NAME"]

DEFAULT_SIZE = 384  # in-plane edge length; the phantom is (160, 384, 384) at this size
PLUGIN_NAME = "mlarray"
SAMPLE_NAMES = {"image": "ct_phantom.mla", "labels": "ct_phantom_seg.mla"}
# Spacing of the default phantom (mm): 2 mm slices, 0.9 mm pixels -> 320 x 346 x 346 mm.
_SLICE_MM, _PIXEL_MM = 2.0, 0.9
# LPS direction: columns are the unit world vectors of axes 0 (+S), 1 (+P), 2 (+L).
_DIRECTION = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def sample_shape(size: Optional[int] = None) -> tuple[int, int, int]:
    """Phantom shape for an in-plane edge length ``size`` (slices keep the 160:384 ratio)."""
    n = DEFAULT_SIZE if size is None else int(size)
    if n < 16:
        raise MetadataError("size", size, "must be at least 16", "pass e.g. --size 128")
    return (max(8, round(n * 160 / DEFAULT_SIZE)), n, n)


def _geometry(shape: tuple[int, int, int]) -> dict:
    # Keep the physical extent of the default phantom whatever the size.
    sz = _SLICE_MM * 160 / shape[0]
    sxy = _PIXEL_MM * DEFAULT_SIZE / shape[1]
    spacing = [sz, sxy, sxy]
    # Centre the body on the world origin (LPS x, y), z starting at the pelvis.
    origin = [-(shape[2] - 1) * sxy / 2, -(shape[1] - 1) * sxy / 2, -200.0]
    return {"spacing": spacing, "origin": origin, "direction": _DIRECTION}


def write_sample_files(directory: Union[str, os.PathLike], size: Optional[int] = None,
                       overwrite: bool = False) -> dict[str, str]:
    """Write ``ct_phantom.mla`` (HU image with pyramid and bounding boxes) and ``ct_phantom_seg.mla``
    (its segmentation with named, coloured classes) into ``directory``.

    Returns ``{"image": path, "labels": path}``. Existing files of the same shape are kept unless
    ``overwrite`` (so a cache directory is filled once).
    """

    shape = sample_shape(size)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {k: str(directory / v) for k, v in SAMPLE_NAMES.items()}
    if not overwrite and all(_is_current(p, shape) for p in paths.values()):
        return paths
    geo = _geometry(shape)

    def spatial() -> MetaSpatial:
        return MetaSpatial(axis_labels=["spatial_z", "spatial_y", "spatial_x"], axis_units=["mm", "mm", "mm"],
                           coord_system="LPS", **geo)

    boxes, labels, scores = samples.phantom_boxes(shape)
    # Detector-like scores so the box table has something to show; deterministic.
    scores = [round(0.97 - 0.06 * i, 2) for i in range(len(boxes))]
    source = {"generator": "mlarray.samples.ct_phantom", "shape": list(shape), "seed": 0,
              "Modality": "CT", "BodyPartExamined": "ABDOMEN", "PatientPosition": "HFS",
              "RescaleSlope": 1.0, "RescaleIntercept": 0.0, "note": "synthetic phantom, not patient data"}
    image_meta = Meta(spatial=spatial(), is_seg=False, classes=samples.PHANTOM_CLASSES,
                      bbox=MetaBbox(bboxes=boxes, labels=labels, scores=scores),
                      source=source, source_format="synthetic", extra={"demo": True, "display_window": [-160, 240],
                                                                       "value_unit": "HU"})
    MLArray(samples.ct_phantom(shape), meta=image_meta, compressed=False).save(paths["image"], pyramid=True)
    seg_meta = Meta(spatial=spatial(), is_seg=True, classes=samples.PHANTOM_CLASSES,
                    source={"generator": "mlarray.samples.ct_phantom_labels", "shape": list(shape)},
                    source_format="synthetic", extra={"demo": True})
    MLArray(samples.ct_phantom_labels(shape), meta=seg_meta, compressed=False).save(paths["labels"], pyramid=True)
    return paths


def _is_current(path: str, shape: tuple[int, ...]) -> bool:
    if not Path(path).is_file():
        return False

    try:
        img = MLArray.open(path, mmap_mode="r")
    except (MLArrayError, OSError):
        return False
    # a metadata-only file at this path has no shape: it is not the demo volume, so it is regenerated
    ok = img.shape is not None and tuple(img.shape) == tuple(shape)
    img.close()
    return ok


def run_demo(directory: Optional[Union[str, os.PathLike]] = None, show: bool = True,
             size: Optional[int] = None) -> int:
    """Write the sample files (into ``directory``, default a new temp folder) and, with ``show``,
    open them in napari with the metadata widget docked. Returns a process exit code."""

    directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="mlarray-demo-"))
    try:
        shape = sample_shape(size)
        print(f"Writing a synthetic CT {shape} with its segmentation and boxes to {directory} ...", flush=True)
        paths = write_sample_files(directory, size, overwrite=True)
    except (MLArrayError, OSError) as exc:
        print(f"mlarray demo: {exc}", file=sys.stderr)
        return 1
    for role, p in paths.items():
        print(f"  {role:7s} {p} ({Path(p).stat().st_size / 2**20:.1f} MiB)")
    if not show:
        return 0
    # The viewer lives in the plugin package: the format library itself never imports GUI code.
    try:
        viewer = importlib.import_module("napari_mlarray._demo")
    except ImportError:
        print("mlarray demo: napari is not installed; the files were written. "
              "Install the viewer with: pip install 'mlarray[napari]'", file=sys.stderr)
        return 1
    return viewer.show_demo(paths["image"], paths["labels"])
