"""Microscopy formats through bioio plugins, with files written here: OME-TIFF (tifffile), OME-Zarr
(ome-zarr-py) and Zeiss CZI (pylibCZIrw, the library bioio-czi reads with)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from mlarray import MLArray
from mlarray.convert import detect_format, read_any
from mlarray.convert.formats.bioio import bioio_plugin, read_bioio


def _tczyx(dtype=np.uint16):
    return (np.arange(2 * 3 * 4 * 5 * 6) % 997).astype(dtype).reshape(2, 3, 4, 5, 6)


def test_ome_tiff_through_bioio_keeps_sizes_channels_and_time_interval(tmp_path):
    data = _tczyx()
    tifffile.imwrite(tmp_path / "t.ome.tif", data, ome=True,
                     metadata={"axes": "TCZYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.35, "PhysicalSizeZ": 1.5,
                               "TimeIncrement": 2.5, "TimeIncrementUnit": "s",
                               "Channel": {"Name": ["DAPI", "GFP", "RFP"]}})
    rec = read_bioio(tmp_path / "t.ome.tif")
    assert rec.source_format == "bioio-ome-tiff"
    np.testing.assert_array_equal(rec.array, data)
    assert rec.axis_labels == ["temporal", "channel", "spatial_z", "spatial_y", "spatial_x"]
    assert rec.spacing == [1.5, 0.35, 0.3]
    assert rec.axis_units == ["s", "", "µm", "µm", "µm"]
    assert rec.extra == {"time_interval": 2.5, "channel_names": ["DAPI", "GFP", "RFP"]}
    assert 'PhysicalSizeX="0.3"' in rec.source["metadata"]  # the OME-XML itself
    # the dedicated TIFF converter keeps .ome.tif; bioio is the fallback
    assert detect_format(tmp_path / "t.ome.tif") == "tiff"


def test_single_plane_stays_two_dimensional(tmp_path):
    plane = np.arange(30, dtype=np.uint8).reshape(5, 6)
    tifffile.imwrite(tmp_path / "p.ome.tif", plane, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 0.5,
                                                                       "PhysicalSizeY": 0.5})
    rec = read_bioio(tmp_path / "p.ome.tif")
    assert rec.axis_labels == ["spatial_y", "spatial_x"] and rec.array.shape == (5, 6)
    np.testing.assert_array_equal(rec.array, plane)


def test_ome_zarr_through_bioio_matches_our_reader(tmp_path):
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    data = _tczyx()[0]
    g = zarr.open_group(str(tmp_path / "i.ome.zarr"), mode="w", zarr_format=2)
    write_image(data, g, fmt=FormatV04(), axes="czyx", scale={"z": 2.0, "y": 0.5, "x": 0.25},
                axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"}, scale_factors=())
    ours = read_any(tmp_path / "i.ome.zarr")
    theirs = read_bioio(tmp_path / "i.ome.zarr")
    assert theirs.source_format == "bioio-ome-zarr"
    np.testing.assert_array_equal(theirs.array, ours.array)
    assert theirs.spacing == ours.spacing == [2.0, 0.5, 0.25]
    assert theirs.axis_labels == ours.axis_labels


def test_zeiss_czi_is_read_through_the_bioio_fallback_and_converted(tmp_path):
    from pylibCZIrw import czi as pyczi

    data = _tczyx()
    path = tmp_path / "scan.czi"
    with pyczi.create_czi(str(path), exist_ok=True) as doc:
        for t in range(2):
            for c in range(3):
                for z in range(4):
                    doc.write(data=data[t, c, z], plane={"T": t, "C": c, "Z": z}, scene=0)
        doc.write_metadata(document_name="scan", channel_names={0: "DAPI", 1: "GFP", 2: "RFP"},
                           scale_x=0.3e-6, scale_y=0.35e-6, scale_z=1.5e-6)  # CZI stores metres
    assert bioio_plugin(path) == "bioio-czi"
    assert detect_format(path) == "bioio"  # no dedicated converter and no ITK ImageIO claims .czi
    from mlarray.cli import main

    assert main(["convert", "-q", str(path), str(tmp_path / "scan.mla")]) == 0
    ml = MLArray.open(tmp_path / "scan.mla")
    np.testing.assert_array_equal(ml.to_numpy(), data)
    sp = ml.meta.spatial
    assert sp.axis_labels == ["temporal", "channel", "spatial_z", "spatial_y", "spatial_x"]
    np.testing.assert_allclose(sp.spacing, [1.5, 0.35, 0.3], rtol=1e-9)
    # no time interval in this CZI: the time axis has no unit, so units are one per spatial axis (_micro)
    assert sp.axis_units == ["µm"] * 3
    assert ml.meta.extra["channel_names"] == ["DAPI", "GFP", "RFP"]
    assert ml.meta.source_format == "bioio-czi"
    assert "<ImageDocument" in ml.meta.source["metadata"]  # the CZI's own XML metadata


def test_forcing_a_plugin_that_is_not_installed_says_how_to_get_it(tmp_path):
    from mlarray.convert import ConversionError

    (tmp_path / "x.nd2").write_bytes(b"\0" * 64)
    with pytest.raises(ConversionError, match="pip install bioio-notaplugin"):
        read_bioio(tmp_path / "x.nd2", plugin="bioio-notaplugin")
