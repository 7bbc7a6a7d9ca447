"""A microscopist's round trips through the CLI, checked with the field's own tools (tifffile, bioio, ome-zarr-py).

Inputs are written by those tools; our outputs are read back by them, as Fiji/Bio-Formats users would.
"""

import xml.etree.ElementTree as ET

import numpy as np
import tifffile

from mlarray import MLArray
from mlarray.cli import main
from mlarray.meta import Meta

RNG = np.random.default_rng(27)
TCZYX = RNG.integers(0, 4000, (3, 2, 4, 32, 40)).astype(np.uint16)
OME_META = {"axes": "TCZYX", "Channel": {"Name": ["DAPI", "GFP"]}, "TimeIncrement": 30, "TimeIncrementUnit": "s",
            "PhysicalSizeX": 0.5, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": 0.5, "PhysicalSizeYUnit": "µm",
            "PhysicalSizeZ": 2.0, "PhysicalSizeZUnit": "µm"}


def _convert(src, dst):
    assert main(["convert", "-q", str(src), str(dst)]) == 0


def _ome_tiff(path):
    tifffile.imwrite(path, TCZYX, ome=True, metadata=OME_META)
    return path


def _pixels(ome_xml: str):
    root = ET.fromstring(ome_xml)
    pixels = next(el for el in root.iter() if el.tag.endswith("}Pixels"))
    channels = [el for el in pixels if el.tag.endswith("}Channel")]
    return pixels, channels


# ---------------------------------------------------------------------------------------- 27.1: OME-TIFF out
def test_mla_to_ome_tif_writes_ome_tiff_that_tifffile_and_bioio_read(tmp_path):
    import bioio

    mla = tmp_path / "cells.mla"
    _convert(_ome_tiff(tmp_path / "in.ome.tif"), mla)
    out = tmp_path / "cells.ome.tif"
    _convert(mla, out)
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome
        assert tif.series[0].axes == "TCZYX"
        np.testing.assert_array_equal(tif.series[0].asarray(), TCZYX)
        pixels, channels = _pixels(tif.ome_metadata)
    assert float(pixels.get("PhysicalSizeX")) == 0.5 and pixels.get("PhysicalSizeXUnit") == "µm"
    assert float(pixels.get("PhysicalSizeZ")) == 2.0
    assert float(pixels.get("TimeIncrement")) == 30.0 and pixels.get("TimeIncrementUnit") == "s"
    assert [c.get("Name") for c in channels] == ["DAPI", "GFP"]
    img = bioio.BioImage(out)
    assert [str(c) for c in img.channel_names] == ["DAPI", "GFP"]
    assert tuple(img.physical_pixel_sizes) == (2.0, 0.5, 0.5)
    assert img.dims.T == 3 and img.dims.C == 2 and img.dims.Z == 4
    assert list(tmp_path.glob(".*partial*")) == []


def test_ome_tif_output_stores_the_pyramid_of_a_pyramidal_mla_as_subifds(tmp_path):
    base = RNG.integers(0, 255, (2, 512, 512)).astype(np.uint8)
    src = tmp_path / "slide.ome.tif"
    with tifffile.TiffWriter(src, ome=True) as tw:  # a pyramidal OME-TIFF as tifffile's docs write one
        tw.write(base, subifds=2, tile=(128, 128), metadata={"axes": "CYX", "Channel": {"Name": ["HE", "IF"]},
                                                             "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25})
        tw.write(base[:, ::2, ::2], subfiletype=1, tile=(128, 128))
        tw.write(base[:, ::4, ::4], subfiletype=1, tile=(128, 128))
    mla = tmp_path / "slide.mla"
    _convert(src, mla)
    assert len(MLArray.open(mla).levels) == 3
    out = tmp_path / "slide_out.ome.tif"
    _convert(mla, out)
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome
        levels = tif.series[0].levels
        assert [lv.shape for lv in levels] == [(2, 512, 512), (2, 256, 256), (2, 128, 128)]
        np.testing.assert_array_equal(levels[2].asarray(), base[:, ::4, ::4])
        _, channels = _pixels(tif.ome_metadata)
        assert [c.get("Name") for c in channels] == ["HE", "IF"]


# ---------------------------------------------------------------------------------------- 27.2: TIFF in
def test_ome_tiff_channel_names_and_time_increment_reach_the_fields_tools_read(tmp_path):
    mla = tmp_path / "a.mla"
    _convert(_ome_tiff(tmp_path / "a.ome.tif"), mla)
    meta = MLArray.open(mla).meta
    assert meta.extra["channel_names"] == ["DAPI", "GFP"]
    assert meta.extra["time_interval"] == 30.0


def test_imagej_hyperstack_frame_interval_becomes_the_time_interval(tmp_path):
    src = tmp_path / "ij.tif"
    tifffile.imwrite(src, np.transpose(TCZYX, (0, 2, 1, 3, 4)).copy(), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "TZCYX", "finterval": 30, "spacing": 2.0, "unit": "um"})
    mla = tmp_path / "ij.mla"
    _convert(src, mla)
    meta = MLArray.open(mla).meta
    assert meta.extra["time_interval"] == 30.0
    assert meta.spatial.axis_labels == ["temporal", "spatial_z", "channel", "spatial_y", "spatial_x"]
    assert meta.spatial.axis_units == ["s", "µm", "", "µm", "µm"]


def test_imagej_luts_and_ranges_become_channel_colours_and_windows(tmp_path):
    src = tmp_path / "ij.tif"
    ramp = np.arange(256, dtype=np.uint8)
    zero = np.zeros(256, np.uint8)
    luts = [np.stack([zero, zero, ramp]), np.stack([zero, ramp, zero])]  # blue, green
    tifffile.imwrite(src, TCZYX[0, :, 0], imagej=True, metadata={"axes": "CYX", "LUTs": luts,
                                                                  "Ranges": (100.0, 3000.0, 50.0, 2500.0)})
    mla = tmp_path / "ij.mla"
    _convert(src, mla)
    extra = MLArray.open(mla).meta.extra
    assert extra["channel_colors"] == ["#0000ff", "#00ff00"]
    assert extra["channel_windows"] == [[100.0, 3000.0], [50.0, 2500.0]]


# ------------------------------------------------------------- 27.2 / 27.8: one mapping whichever reader is used
def _ome_zarr_of_the_same_data(path):
    import zarr
    from ome_zarr.writer import write_image

    axes = [{"name": "t", "type": "time", "unit": "second"}, {"name": "c", "type": "channel"},
            {"name": "z", "type": "space", "unit": "micrometer"}, {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"}]
    group = zarr.open_group(str(path), mode="w")
    write_image(TCZYX, group, axes=axes, scale_factors=[], scale={"t": 30.0, "z": 2.0, "y": 0.5, "x": 0.5},
                metadata={"omero": {"channels": [
                    {"label": "DAPI", "color": "0000FF", "window": {"start": 0, "end": 4000, "min": 0, "max": 65535}},
                    {"label": "GFP", "color": "00FF00", "window": {"start": 0, "end": 4000, "min": 0, "max": 65535}}]}})
    return path


def test_same_data_through_tifffile_bioio_and_ome_zarr_gives_the_same_fields(tmp_path):
    from mlarray.convert.formats.bioio import read_bioio
    from mlarray.convert.formats.omezarr import read_omezarr
    from mlarray.convert.tiff import read_tiff

    tif = _ome_tiff(tmp_path / "a.ome.tif")
    records = {"tifffile": read_tiff(tif), "bioio": read_bioio(tif),
               "ome-zarr": read_omezarr(_ome_zarr_of_the_same_data(tmp_path / "a.ome.zarr"))}
    fields = {name: (r.axis_labels, r.axis_units, r.spacing, (r.extra or {}).get("channel_names"),
                     (r.extra or {}).get("time_interval")) for name, r in records.items()}
    expected = (["temporal", "channel", "spatial_z", "spatial_y", "spatial_x"], ["s", "", "µm", "µm", "µm"],
                [2.0, 0.5, 0.5], ["DAPI", "GFP"], 30.0)
    assert fields == {name: expected for name in records}


def test_png_and_tiff_of_the_same_picture_get_the_same_axis_labels(tmp_path):
    import SimpleITK as sitk

    picture = RNG.integers(0, 255, (30, 40)).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(picture), str(tmp_path / "p.png"))
    tifffile.imwrite(tmp_path / "p.tif", picture)
    for name in ("p.png", "p.tif"):
        _convert(tmp_path / name, tmp_path / f"{name}.mla")
    png, tif = (MLArray.open(tmp_path / f"{n}.mla").meta.spatial for n in ("p.png", "p.tif"))
    assert png.axis_labels == tif.axis_labels == ["spatial_y", "spatial_x"]


def test_validate_gives_no_anatomical_advice_for_a_micrometre_image(tmp_path, capsys):
    mla = tmp_path / "cells.mla"
    MLArray(TCZYX[0, 0], meta=Meta(spatial={"spacing": [2.0, 0.5, 0.5], "axis_units": ["µm"] * 3,
                                            "axis_labels": ["spatial_z", "spatial_y", "spatial_x"]})).save(mla)
    capsys.readouterr()
    assert main(["validate", str(mla)]) == 0
    assert "RAS" not in capsys.readouterr().out
    ct = tmp_path / "ct.mla"  # a millimetre volume without a frame still gets the advice
    MLArray(TCZYX[0, 0], meta=Meta(spatial={"spacing": [2.0, 0.5, 0.5], "axis_units": ["mm"] * 3})).save(ct)
    main(["validate", str(ct)])
    assert "RAS" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------- 27.6: bounded memory
def test_export_to_ome_zarr_streams_by_region_in_bounded_memory(tmp_path):
    import tracemalloc

    import zarr

    from mlarray.convert.formats._omezarr_write import REGION_BYTES

    image = RNG.integers(0, 4000, (6, 2048, 2048)).astype(np.uint16)  # 48 MiB, many regions and chunks
    mla = tmp_path / "slide.mla"
    MLArray(image, meta=Meta(spatial={"axis_labels": ["channel", "spatial_y", "spatial_x"], "spacing": [0.25, 0.25],
                                      "axis_units": ["µm", "µm"]})).save(mla)
    small = tmp_path / "small.mla"  # first use imports zarr, dask and ome-zarr-py: not the conversion's memory
    MLArray(image[:1, :64, :64], meta=Meta(spatial={"axis_labels": ["channel", "spatial_y", "spatial_x"]})).save(small)
    _convert(small, tmp_path / "small.ome.zarr")
    nbytes = image.nbytes
    del image
    tracemalloc.start()
    try:
        _convert(mla, tmp_path / "slide.ome.zarr")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert REGION_BYTES < nbytes / 4
    assert peak < nbytes / 2, f"peak {peak / 2**20:.1f} MiB for a {nbytes / 2**20:.0f} MiB image"
    back = zarr.open_group(str(tmp_path / "slide.ome.zarr"), mode="r")
    np.testing.assert_array_equal(back["s0"][:, 1000:1100, :], MLArray.open(mla)[:, 1000:1100, :])
    assert back["s1"].shape == (6, 1024, 1024)


# ---------------------------------------------------------------------------------------- 27.8: label outputs named
def test_cli_names_the_label_files_it_writes_beside_the_image(tmp_path, capsys):
    import zarr
    from ome_zarr.writer import write_image, write_labels

    store = tmp_path / "cells.ome.zarr"
    group = zarr.open_group(str(store), mode="w")
    write_image(TCZYX[0], group, axes="czyx", scale_factors=[])
    write_labels((TCZYX[0, 0] > 2000).astype(np.uint8), group, "nuclei", axes="zyx", scale_factors=[])
    capsys.readouterr()
    assert main(["convert", str(store), str(tmp_path / "cells.mla")]) == 0
    err = capsys.readouterr().err
    label_file = tmp_path / "cells_label-nuclei.mla"
    assert label_file.exists() and str(label_file) in err


def test_ome_tif_of_a_volume_pyramid_gets_subifd_levels_in_y_and_x(tmp_path):
    volume = (np.indices((300, 300, 300)).sum(axis=0) % 251).astype(np.uint8)
    mla = tmp_path / "vol.mla"
    MLArray(volume, meta=Meta(spatial={"axis_labels": ["spatial_z", "spatial_y", "spatial_x"], "spacing": [1, 1, 1],
                                       "axis_units": ["µm"] * 3})).save(mla, pyramid=True)
    assert MLArray.open(mla).levels[1].shape[0] < 300  # the .mla pyramid halves Z too: no SubIFD form
    out = tmp_path / "vol.ome.tif"
    _convert(mla, out)
    with tifffile.TiffFile(out) as tif:
        shapes = [lv.shape for lv in tif.series[0].levels]
    assert shapes[0] == (300, 300, 300) and len(shapes) > 1
    assert all(s[0] == 300 and s[1] < 300 for s in shapes[1:])


def test_tifffile_and_bioio_agree_on_what_a_file_does_not_say(tmp_path):
    """No TimeIncrement, no channel names, no pixel size: neither reader invents one (bioio numbers
    time points 0, 1, 2 and names channels 'Channel:0:c' when the file is silent)."""
    from mlarray.convert.formats.bioio import read_bioio
    from mlarray.convert.tiff import read_tiff

    ome = tmp_path / "plain.ome.tif"
    tifffile.imwrite(ome, TCZYX, ome=True, metadata={"axes": "TCZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                                                     "PhysicalSizeZ": 2.0})
    ij = tmp_path / "plain_ij.tif"
    tifffile.imwrite(ij, np.transpose(TCZYX[0], (1, 0, 2, 3)).copy(), imagej=True, metadata={"axes": "ZCYX"})
    for path, units in ((ome, ["µm"] * 3), (ij, None)):
        for rec in (read_tiff(path), read_bioio(path)):
            assert rec.axis_units == units and not (rec.extra or {}), (path.name, rec.source_format)
