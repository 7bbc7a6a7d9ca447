"""``mlarray convert --list-formats`` and batch conversion of folders that mix formats."""

from __future__ import annotations

import json

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
import zarr
from ome_zarr.format import FormatV05
from ome_zarr.writer import write_image, write_labels

from mlarray import MLArray
from mlarray.cli import main
from mlarray.convert.formats import registry


def test_list_formats_says_what_is_installed(capsys):
    assert main(["convert", "--list-formats"]) == 0
    out = capsys.readouterr().out
    for name in ("NIfTI", "NRRD", "DICOM", "MetaImage", "MGH", "Analyze", "GIPL", "VTK", "OME-Zarr",
                 "bioio plugin bioio-czi"):
        assert name in out
    meta = next(line for line in out.splitlines() if line.startswith("MetaImage"))
    assert meta.split()[1:3] == ["yes", "yes"] and ".mha .mhd" in meta
    gipl = next(line for line in out.splitlines() if line.startswith("GIPL"))
    assert gipl.split()[1:3] == ["yes", "no"]
    assert main(["convert", "--list-formats", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["format"]: r["write"] for r in rows}["OME-Zarr (NGFF 0.4, 0.5; 0.1-0.3 read)"] is True


def test_list_formats_names_the_extra_for_what_is_missing(monkeypatch, capsys):
    real = registry.importlib.util.find_spec
    monkeypatch.setattr(registry.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("SimpleITK", "bioio") else real(name, *a))
    assert main(["convert", "--list-formats"]) == 0
    out = capsys.readouterr().out
    meta = next(line for line in out.splitlines() if line.startswith("MetaImage"))
    assert meta.split()[1:3] == ["no", "no"] and "needs mlarray[itk]" in meta
    assert "mlarray[bioio]" in out
    assert "pip install 'mlarray[bioio]' 'mlarray[itk]'" in out


def _mixed_folder(folder):
    """One small volume in many formats (several sharing a stem), plus files that are not images."""
    rng = np.random.default_rng(11)
    vol = rng.integers(0, 1000, (6, 7, 8)).astype(np.int16)
    aff = np.diag([0.8, 0.9, 2.0, 1.0])
    aff[:3, 3] = [10, -20, 30]
    nib.save(nib.Nifti1Image(vol, aff), folder / "a.nii.gz")
    nrrd.write(str(folder / "b.nrrd"), vol, {"space": "left-posterior-superior",
                                              "space directions": np.diag([0.8, 0.9, 2.0]),
                                              "space origin": [1.0, 2.0, 3.0]})
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.5, 0.6, 0.7))
    img.SetOrigin((5.0, 6.0, 7.0))
    for name in ("scan.mha", "scan.mhd", "scan.gipl.gz", "scan.vtk", "scan.hdr"):
        sitk.WriteImage(img, str(folder / name))
    nib.save(nib.MGHImage(vol.astype(np.float32), aff), folder / "brain.mgz")
    tifffile.imwrite(folder / "cells.ome.tif", vol.astype(np.uint16), ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 1.0})
    g = zarr.open_group(str(folder / "tissue.ome.zarr"), mode="w", zarr_format=3)
    write_image(vol.astype(np.uint16), g, fmt=FormatV05(), axes="zyx", scale={"z": 1.0, "y": 0.5, "x": 0.5},
                scale_factors=())
    write_labels((vol > 500).astype(np.uint8), g, "tumour", fmt=FormatV05(), axes="zyx", scale_factors=(),
                 label_metadata={"properties": [{"label-value": 1, "class": "tumour"}]})
    (folder / "notes.txt").write_text("not an image")
    (folder / "meta.json").write_text("{}")
    return vol


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_converts_a_folder_that_mixes_formats(tmp_path, jobs):
    src = tmp_path / "in"
    src.mkdir()
    vol = _mixed_folder(src)
    out = tmp_path / "out"
    assert main(["convert", "-q", str(src), str(out), "--jobs", jobs]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a.mla", "b.mla", "brain.mla", "cells.mla", "scan_gipl_gz.mla", "scan_hdr.mla",
                     "scan_mha.mla", "scan_mhd.mla", "scan_vtk.mla", "tissue.mla", "tissue_label-tumour.mla"]
    formats = {n: MLArray.open(out / n).meta.source_format for n in names}
    assert formats == {"a.mla": "nifti1", "b.mla": "nrrd", "brain.mla": "mgh", "cells.mla": "ome-tiff",
                       "scan_gipl_gz.mla": "gipl", "scan_hdr.mla": "nifti1-pair", "scan_mha.mla": "metaimage",
                       "scan_mhd.mla": "metaimage", "scan_vtk.mla": "vtk", "tissue.mla": "ome-zarr",
                       "tissue_label-tumour.mla": "ome-zarr"}
    for n in ("a.mla", "b.mla", "brain.mla"):
        np.testing.assert_array_equal(MLArray.open(out / n).to_numpy(), vol)
    ref = sitk.ReadImage(str(src / "scan.mha"))
    for n in ("scan_mha.mla", "scan_mhd.mla", "scan_gipl_gz.mla", "scan_vtk.mla", "scan_hdr.mla"):
        ml = MLArray.open(out / n)
        np.testing.assert_array_equal(ml.to_numpy(), vol)
        world = np.asarray(ml.affine) @ np.r_[5, 6, 7, 1]
        np.testing.assert_allclose(world[:3], ref.TransformIndexToPhysicalPoint((7, 6, 5)), atol=1e-6)
    seg = MLArray.open(out / "tissue_label-tumour.mla")
    assert seg.meta.is_seg and seg.meta.classes[0]["name"] == "tumour"
    np.testing.assert_array_equal(seg.to_numpy(), (vol > 500).astype(np.uint8))


def test_batch_from_mla_to_metaimage_and_ome_zarr(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    vol = _mixed_folder(src)
    mla = tmp_path / "mla"
    assert main(["convert", "-q", str(src / "a.nii.gz"), str(src / "scan.mha"), str(mla)]) == 0
    for to in (".mha", ".ome.zarr"):
        out = tmp_path / f"out{to}"
        assert main(["convert", "-q", str(mla), str(out) + "/", "--to", to]) == 0
        assert sorted(p.name for p in out.iterdir()) == [f"a{to}", f"scan{to}"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out.mha" / "scan.mha"))),
                                  vol)
    back = zarr.open_group(str(tmp_path / "out.ome.zarr" / "a.ome.zarr"), mode="r")
    np.testing.assert_array_equal(np.asarray(back["s0"]), vol)
