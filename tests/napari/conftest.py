"""Fixtures for the napari plugin tests: small synthetic files written with the format library.

Run under a real X server (Xvfb): ``xvfb-run -a python -m pytest tests/napari -p no:xvfb``
or with pytest-xvfb. Qt's ``offscreen`` platform cannot render image layers.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlarray import Meta, MLArray  # noqa: E402

PLUGIN = "mlarray"

CLASSES = [
    {"id": 1, "name": "liver", "color": [0.80, 0.35, 0.25, 1.0]},
    {"id": 2, "name": "kidney", "color": [0.95, 0.80, 0.20, 1.0]},
    {"id": 3, "name": "bone", "color": [0.95, 0.95, 0.90, 1.0]},
]


def phantom(shape=(24, 96, 80)):
    """(ct int16, labels uint8, boxes inclusive, box labels): a tiny CT-like volume, no samples needed."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    ct = np.full(shape, -1000, np.int16)
    body = (y / 0.8) ** 2 + (x / 0.9) ** 2 < 1
    ct[body] = 40
    lab = np.zeros(shape, np.uint8)
    liver = ((y + 0.1) / 0.35) ** 2 + ((x + 0.3) / 0.3) ** 2 + (z / 0.7) ** 2 < 1
    kidney = ((y - 0.3) / 0.15) ** 2 + ((x - 0.45) / 0.15) ** 2 + ((z - 0.2) / 0.4) ** 2 < 1
    lab[liver], lab[kidney] = 1, 2
    ct[liver], ct[kidney] = 60, 150
    boxes, names = [], []
    for v, name in ((1, "liver"), (2, "kidney")):
        idx = np.argwhere(lab == v)
        boxes.append([[int(idx[:, a].min()), int(idx[:, a].max())] for a in range(3)])
        names.append(name)
    return ct, lab, boxes, names


@pytest.fixture
def ct_files(tmp_path):
    """CT image (with boxes), its segmentation, in LPS with anisotropic spacing and an offset origin."""
    ct, lab, boxes, names = phantom()
    geom = dict(spacing=[2.5, 0.8, 0.9], origin=[-40.0, -35.0, 120.0])
    img = MLArray(ct, **geom, meta=Meta(source={"Modality": "CT"}, extra={"note": "phantom"}, classes=CLASSES,
                                        bbox={"bboxes": boxes, "labels": names, "scores": [0.9, 0.75]}))
    img.meta.spatial.coord_system = "LPS"
    # LPS with identity direction: array axis 0 -> +L, 1 -> +P, 2 -> +S. Make axis 0 the S axis
    # like a DICOM series: direction columns = (S, P, L)-ish.
    img.direction = [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    img.save(tmp_path / "ct.mla")
    seg = MLArray(lab, spacing=img.spacing, origin=img.origin, direction=img.direction,
                  meta=Meta(is_seg=True, classes=CLASSES))
    seg.meta.spatial.coord_system = "LPS"
    seg.save(tmp_path / "ct_seg.mla")
    return {"ct": tmp_path / "ct.mla", "seg": tmp_path / "ct_seg.mla", "array": ct, "labels": lab,
            "boxes": boxes, "names": names}


def layer_index(layer, file_index):
    """Data coordinates, in a layer made by the reader, of a voxel given in file (array) order."""
    data = layer.data[0] if layer.multiscale else layer.data
    order = data.order
    return [file_index[a] for a in order]


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before)."""
    return (viewer.scene if hasattr(viewer, "scene") else viewer).camera


def amber(shot) -> np.ndarray:
    """The orientation letters' amber pixels (viewer/_letters.py's colour on their dark box, blended at the
    glyph edges) of a screenshot."""
    r, g, b = (shot[..., i].astype(int) for i in range(3))
    return (r > 180) & (g > 120) & (g < 230) & (b < 140) & (r - b > 90)
