"""One declaration per format (issue 24 section 3): the API, the CLI's folder scan, output names and
``--list-formats`` agree because they all come from ``convert/formats/registry.py``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from mlarray import MLArray
from mlarray.cli import main
from mlarray.convert import ConversionError, detect_format, read_any, write_any
from mlarray.convert.formats import registry

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"


def test_write_any_writes_the_dicom_series_convert_writes(tmp_path):
    # before: write_any said "writing DICOM is not supported" while `mlarray convert x.mla folder/` wrote one
    record = read_any(NIB_DATA / "anatomical.nii")
    write_any(record, str(tmp_path / "series") + "/")
    back = read_any(tmp_path / "series")
    assert sorted(np.asarray(back.array).ravel().tolist()) == sorted(np.asarray(record.array).ravel().tolist())
    with pytest.raises(ConversionError, match="folder"):  # a series is slice files: one .dcm is a SEG only
        write_any(record, tmp_path / "one.dcm")


def test_a_folder_is_dicom_for_the_api_exactly_when_the_cli_scan_says_so(tmp_path, capsys):
    # before: detect_format called any folder that is not a Zarr store DICOM; the CLI looked at the files
    images = tmp_path / "niftis"
    images.mkdir()
    for name in ("a.nii", "b.nii.gz"):
        nib.save(nib.load(NIB_DATA / "anatomical.nii"), images / name)
    with pytest.raises(ConversionError, match="no DICOM image files"):
        detect_format(images)
    assert main(["convert", "-q", str(images), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mla", "b.mla"]
    series = tmp_path / "ct"
    series.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), series / "IM1")  # no extension: found by its DICOM preamble
    assert detect_format(series) == "dicom"
    assert main(["convert", "-q", str(series), str(tmp_path / "ct.mla")]) == 0
    assert MLArray.open(tmp_path / "ct.mla").meta.source_format.lower().startswith("dicom")


def test_a_dotted_dicom_folder_keeps_its_whole_name(tmp_path):
    # before: the series folder 1.2.840.5 became 1.2.840.mla (its last "suffix" was cut as an extension)
    folder = tmp_path / "in" / "1.2.840.5"
    folder.mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "a.dcm")
    shutil.copy(NIB_DATA / "anatomical.nii", tmp_path / "in" / "anat.nii")
    assert main(["convert", "-q", str(tmp_path / "in"), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1.2.840.5.mla", "anat.mla"]


@pytest.mark.parametrize("name,key", [("a.nii.gz", "nifti"), ("cells.ome.tif", "tiff"), ("cells.ome.zarr", "omezarr"),
                                      ("x.mla", "mla"), ("b.MGZ", "mgh"), ("c.mhd", "itk"), ("s.dcm", "dicom")])
def test_compound_and_plain_extensions_pick_one_format(name, key):
    assert detect_format(name) == key
    assert registry.detect_output(name).key == key


def test_every_declared_format_is_listed_with_its_reader_and_writer(capsys):
    assert main(["convert", "--list-formats", "--json"]) == 0
    rows = {r["format"]: r for r in json.loads(capsys.readouterr().out)}
    for fmt in registry.FORMATS:
        if not fmt.listed or (fmt.key == "bioio" and fmt.available()):
            continue  # bioio lists one row per installed plugin
        assert rows[fmt.title]["write"] is (fmt.available() and fmt.writer is not None)
        assert all(e in rows[fmt.title]["extensions"] for e in fmt.extensions)
        for variant in fmt.variants:
            assert rows[variant.title]["write"] is False
    assert rows["DICOM series / DICOM SEG"]["write"] is True  # and write_any writes it (test above)


def test_reading_an_mla_through_the_api_verifies_it_and_keeps_its_geometry(tmp_path):
    src = tmp_path / "a.mla"
    assert main(["convert", "-q", str(NIB_DATA / "anatomical.nii"), str(src)]) == 0
    record = read_any(src)
    img = MLArray.open(src)
    np.testing.assert_array_equal(record.array, img.to_numpy())
    np.testing.assert_allclose(record.affine(), img.affine)
    write_any(record, tmp_path / "b.nii.gz")
    np.testing.assert_allclose(nib.load(tmp_path / "b.nii.gz").affine, nib.load(NIB_DATA / "anatomical.nii").affine,
                               atol=1e-5)


@pytest.mark.parametrize("module,name,extra", [("nrrd", "x.nrrd", "convert"), ("tifffile", "x.tif", "convert"),
                                               ("SimpleITK", "x.mha", "itk"), ("zarr", "x.ome.zarr", "omezarr")])
def test_a_missing_format_library_names_its_extra(tmp_path, monkeypatch, capsys, module, name, extra):
    from mlarray import MissingDependencyError

    src = tmp_path / "a.mla"
    MLArray(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)).save(src)
    monkeypatch.setitem(__import__("sys").modules, module, None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=rf"pip install 'mlarray\[{extra}\]'"):
        write_any(read_any(src), tmp_path / name)
    assert main(["convert", "-q", str(src), str(tmp_path / ("cli_" + name))]) == 1
    err = capsys.readouterr().err
    assert f"mlarray[{extra}]" in err and "Traceback" not in err
