"""TIFF / OME-TIFF / ImageJ TIFF <-> ImageRecord on tifffile-written files."""

import json

import numpy as np
import pytest
import tifffile

from mlarray._errors import CorruptFileError  # noqa: E402
from mlarray.convert import ConversionError, read_any, write_any  # noqa: E402
from mlarray.convert.tiff import read_tiff  # noqa: E402

DATA = np.random.default_rng(1).integers(0, 4000, (5, 64, 48)).astype(np.uint16)


def _ome(path):
    tifffile.imwrite(path, DATA, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": 0.25,
        "PhysicalSizeYUnit": "µm", "PhysicalSizeZ": 2.0, "PhysicalSizeZUnit": "µm"})


def test_ome_pixel_size(tmp_path):
    p = tmp_path / "a.ome.tif"
    _ome(p)
    rec = read_any(p)
    assert rec.source_format == "ome-tiff"
    assert rec.axis_labels == ["spatial_z", "spatial_y", "spatial_x"]
    assert rec.spacing == [2.0, 0.25, 0.5] and rec.axis_units == ["µm"] * 3
    np.testing.assert_array_equal(rec.array, DATA)
    assert "PhysicalSizeX" in rec.source["ome_xml"]
    json.dumps(rec.source, allow_nan=False)


def test_imagej_pixel_size(tmp_path):
    p = tmp_path / "ij.tif"
    tifffile.imwrite(p, DATA, imagej=True, resolution=(1 / 0.3, 1 / 0.4),
                     metadata={"spacing": 1.5, "unit": "um", "axes": "ZYX"})
    rec = read_tiff(p)
    assert rec.spacing == pytest.approx([1.5, 0.4, 0.3])
    assert rec.axis_units == ["µm"] * 3


def test_resolution_tags_in_cm(tmp_path):
    p = tmp_path / "plain.tif"
    tifffile.imwrite(p, DATA[0], resolution=(100.0, 50.0), resolutionunit="CENTIMETER")
    rec = read_tiff(p)
    assert rec.spacing == pytest.approx([0.2, 0.1])  # Y, X in mm
    assert rec.axis_units == ["mm", "mm"]


@pytest.mark.parametrize("target", ["out.tif", "out.ome.tiff"])
def test_round_trip_keeps_pixel_size(tmp_path, target):
    p = tmp_path / "a.ome.tif"
    _ome(p)
    rec = read_tiff(p)
    write_any(rec, tmp_path / target)
    back = read_tiff(tmp_path / target)
    np.testing.assert_array_equal(back.array, DATA)
    assert back.spacing == pytest.approx([2.0, 0.25, 0.5])
    assert back.axis_units == ["µm"] * 3
    assert back.source_format == ("ome-tiff" if target.endswith("ome.tiff") else "tiff")
    with tifffile.TiffFile(tmp_path / target) as t:  # resolution tags for other readers
        xres, yres = t.pages[0].resolution
        assert int(t.pages[0].resolutionunit) == 3  # centimetre
        assert 1 / xres == pytest.approx(0.5e-4) and 1 / yres == pytest.approx(0.25e-4)


def test_pyramid_levels_round_trip(tmp_path):
    base = np.random.default_rng(2).integers(0, 255, (512, 512)).astype(np.uint8)
    p = tmp_path / "pyr.ome.tif"
    with tifffile.TiffWriter(p) as tw:
        tw.write(base, subifds=2, tile=(128, 128), metadata={"axes": "YX", "PhysicalSizeX": 0.1,
                                                             "PhysicalSizeY": 0.1})
        tw.write(base[::2, ::2], subfiletype=1, tile=(128, 128))
        tw.write(base[::4, ::4], subfiletype=1, tile=(128, 128))
    rec = read_tiff(p)
    np.testing.assert_array_equal(rec.array, base)
    assert [np.asarray(level).shape for level in rec.levels] == [(256, 256), (128, 128)]
    np.testing.assert_array_equal(rec.levels[1], base[::4, ::4])
    write_any(rec, tmp_path / "pyr2.ome.tif")
    back = read_tiff(tmp_path / "pyr2.ome.tif")
    assert [lvl.shape for lvl in back.levels] == [(256, 256), (128, 128)]
    assert back.spacing == pytest.approx([0.1, 0.1])


def test_plain_tiff_keeps_full_geometry(tmp_path):
    from mlarray.convert import ImageRecord

    rec = ImageRecord(array=DATA, spacing=[3.0, 0.7, 0.7], origin=[1.0, 2.0, 3.0],
                      direction=np.eye(3)[:, ::-1].tolist(), coord_system="LPS",
                      axis_labels=["spatial"] * 3, axis_units=["mm"] * 3)
    write_any(rec, tmp_path / "g.tif")
    back = read_tiff(tmp_path / "g.tif")
    assert back.coord_system == "LPS" and back.origin == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(back.affine(), rec.affine())


def test_bad_tiff(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\xff" * 50)
    with pytest.raises(CorruptFileError, match="bad.tif"):
        read_any(bad)
    with pytest.raises(ConversionError, match="nope.tiff"):
        read_any(tmp_path / "nope.tiff")
