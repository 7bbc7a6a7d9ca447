"""Issue 27 item 4 / issue 22 item 13 (napari side): a time series opens with its time step and unit."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import Meta, MLArray
from mlarray.cli import main as cli


def test_ome_zarr_time_interval_is_the_time_scale(make_napari_viewer, tmp_path):
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("ome_zarr.writer")  # a test-only interop dependency (the main suite has it)
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscale

    img = np.random.default_rng(4).integers(0, 500, (3, 4, 16, 18)).astype(np.uint16)
    axes = [{"name": "t", "type": "time", "unit": "second"}] + [
        {"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    store = tmp_path / "movie.ome.zarr"
    fmt = FormatV04()
    group = zarr.open_group(str(store), mode="w", zarr_format=fmt.zarr_format)
    write_multiscale([img], group, fmt=fmt, axes=axes,
                coordinate_transformations=[[{"type": "scale", "scale": [30.0, 2.0, 0.5, 0.5]}]])
    out = tmp_path / "movie.mla"
    assert cli(["convert", str(store), str(out)]) == 0
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(out), plugin=PLUGIN)
    time = list(layer.axis_labels).index("time")
    assert layer.scale[time] == pytest.approx(30.0)
    assert str(layer.units[time]) == "second"
    assert viewer.dims.range[time].step == pytest.approx(30.0)  # the slider steps 30 s


@pytest.mark.parametrize("unit, step", [("s", 2.0), ("ms", 2000.0), (None, 2.0)])
def test_time_axis_unit_from_axis_units(make_napari_viewer, tmp_path, unit, step):
    """A 4-D NIfTI's repetition time (2 s): shown in the file's time unit, seconds when it names none."""
    arr = np.zeros((2, 6, 7, 8), np.int16)
    labels = ["temporal", "spatial", "spatial", "spatial"]
    units = None if unit is None else [unit, "mm", "mm", "mm"]
    meta = Meta(extra={"time_interval": 2.0})
    meta.spatial.axis_units = units
    MLArray(arr, spacing=[2.0, 2.0, 2.2], axis_labels=labels, meta=meta).save(tmp_path / "fmri.mla")
    (layer,) = make_napari_viewer().open(str(tmp_path / "fmri.mla"), plugin=PLUGIN)
    assert layer.scale[0] == pytest.approx(step)
    assert str(layer.units[0]) == {"s": "second", "ms": "millisecond", None: "second"}[unit]
    # the step is display only: saved back, the file keeps its interval and pixel grid
    from napari_mlarray.hooks._writer import write_image

    data, state, _ = layer.as_layer_data_tuple()
    write_image(str(tmp_path / "back.mla"), data, state)
    back = MLArray.open(tmp_path / "back.mla")
    assert back.meta.extra["time_interval"] == 2.0 and back.shape == arr.shape
