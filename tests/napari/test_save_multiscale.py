"""Issue 18 item 1: an image read from .mla (a multiscale layer) saves through every public save path."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CLASSES, PLUGIN
from save_paths import SAVE_PATHS, save_selected

from mlarray import Meta, MLArray

SHAPE = (6, 300, 280)  # wider than 256 in-plane: the file stores a pyramid, napari gets MultiScaleData


@pytest.fixture
def pyramid_files(tmp_path):
    rng = np.random.default_rng(18)
    ct = rng.integers(-1000, 1500, size=SHAPE).astype(np.int16)
    lab = np.zeros(SHAPE, np.uint8)
    lab[1:4, 50:120, 60:200] = 1
    lab[2:6, 150:290, 10:90] = 2
    boxes = [[[1, 3], [50, 119], [60, 199]], [[2, 5], [150, 289], [10, 89]]]
    geom = dict(spacing=[3.0, 0.7, 0.8], origin=[10.0, -20.0, 5.0], direction=[[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    img = MLArray(ct, **geom, meta=Meta(source={"Modality": "CT"}, extra={"case": 18}, classes=CLASSES,
                                        bbox={"bboxes": boxes, "labels": ["liver", "kidney"], "scores": [0.9, 0.7]}))
    img.meta.spatial.coord_system = "LPS"
    img.save(tmp_path / "ct.mla")
    seg = MLArray(lab, **geom, meta=Meta(is_seg=True, classes=CLASSES))
    seg.meta.spatial.coord_system = "LPS"
    seg.save(tmp_path / "ct_seg.mla")
    assert len(MLArray.open(tmp_path / "ct.mla").levels) > 1
    return {"ct": tmp_path / "ct.mla", "seg": tmp_path / "ct_seg.mla", "array": ct, "labels": lab, "boxes": boxes}


def _same_geometry(a: MLArray, b: MLArray) -> None:
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-9)
    assert b.meta.spatial.coord_system == a.meta.spatial.coord_system


@pytest.mark.parametrize("selection", ["image", "image+boxes", "image+labels+boxes"])
@pytest.mark.parametrize("how", SAVE_PATHS)
def test_multiscale_image_saves_through_every_save_path(make_napari_viewer, pyramid_files, tmp_path,
                                                        monkeypatch, how, selection):
    viewer = make_napari_viewer()
    img, shp = viewer.open(str(pyramid_files["ct"]), plugin=PLUGIN)
    assert img.multiscale  # what makes napari hand the writer a MultiScaleData
    layers = [img]
    if "labels" in selection:
        (lab,) = viewer.open(str(pyramid_files["seg"]), plugin=PLUGIN)
        layers.append(lab)
    if "boxes" in selection:
        layers.append(shp)
    out = tmp_path / "out" / "case.mla"
    out.parent.mkdir()
    written = save_selected(how, viewer, layers, out, monkeypatch)
    expect = [str(out)] + ([str(out.parent / "case_seg.mla")] if "labels" in selection else [])
    assert sorted(written) == sorted(expect)

    src, back = MLArray.open(pyramid_files["ct"]), MLArray.open(out)
    np.testing.assert_array_equal(back.to_numpy(), pyramid_files["array"])
    _same_geometry(src, back)
    assert len(back.levels) == len(src.levels)  # the pyramid is rebuilt
    assert back.meta.source == src.meta.source and back.meta.extra == src.meta.extra
    assert back.meta.bbox.bboxes == pyramid_files["boxes"]
    if "labels" in selection:
        seg = MLArray.open(out.parent / "case_seg.mla")
        np.testing.assert_array_equal(seg.to_numpy(), pyramid_files["labels"])
        assert seg.meta.is_seg and seg.meta.classes == CLASSES
        _same_geometry(src, seg)
    # reopened, the saved image lands where the original did
    (img2, _shp2) = make_napari_viewer().open(str(out), plugin=PLUGIN)
    np.testing.assert_allclose(img2._data_to_world.affine_matrix, img._data_to_world.affine_matrix, atol=1e-9)
