"""Units written from napari are spelled as the file format spells them (``"µm"``, ``"mm"``), not as
napari names them (pint's ``"micrometer"``): a labels layer saved beside its image gets the image's units."""

from __future__ import annotations

import numpy as np
from conftest import PLUGIN

from mlarray import Meta, MLArray


def _microscopy(tmp_path):
    """A 2-channel z-stack in µm (as the OME converters write it) and its nuclei without units."""
    rng = np.random.default_rng(3)
    stack = rng.integers(100, 3000, (2, 8, 32, 40)).astype(np.uint16)
    image = MLArray(stack, spacing=[1.5, 0.325, 0.325], axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"],
                    meta=Meta(spatial={"axis_units": ["µm", "µm", "µm"]}))
    image.save(tmp_path / "cells.mla")
    nuclei = np.zeros((8, 32, 40), np.uint8)
    nuclei[2:6, 8:20, 10:25] = 1
    MLArray(nuclei, spacing=image.spacing, meta=Meta(is_seg=True)).save(tmp_path / "cells_label-nuclei.mla")
    return tmp_path / "cells.mla", tmp_path / "cells_label-nuclei.mla"


def test_labels_saved_beside_their_image_keep_its_unit_spelling(make_napari_viewer, tmp_path):
    image, nuclei = _microscopy(tmp_path)
    assert MLArray.open(image).meta.spatial.axis_units == ["µm"] * 3
    viewer = make_napari_viewer()
    layers = viewer.open([str(image), str(nuclei)], plugin=PLUGIN, stack=False)
    first = layers[0]
    manual = viewer.add_labels(np.zeros(first.data[0].shape if first.multiscale else first.data.shape, np.uint8),
                               name="manual", scale=first.scale, translate=first.translate)
    manual.data[4, 10:20, 10:20] = 3
    if hasattr(viewer.dims, "units"):  # napari >= 0.7 has world units (0.6 none: nothing to adopt)
        assert [str(u) for u in manual.units] == ["micrometer"] * 3  # napari's name, taken from the image
    written = viewer.layers.save(str(tmp_path / "cells_saved.mla"), plugin=PLUGIN)
    assert len(written) == 3  # the image (channels restacked) and the two labels layers
    for path in written:
        assert MLArray.open(path).meta.spatial.axis_units == ["µm"] * 3, path
