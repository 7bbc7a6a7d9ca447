"""Source format -> .mla -> source format, through the MLArray API and the CLI, on real files."""

import json
import os
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine
from nibabel.testing import data_path

from mlarray import MLArray
from mlarray.cli import main
from mlarray.convert._bridge import convert_file, output_name

NIFTIS = ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "reoriented_anat_moved.nii",
          "resampled_anat_moved.nii", "functional.nii"]


def _world_mla(img, ijk):
    return apply_affine(img.affine, ijk)


@pytest.mark.parametrize("name", NIFTIS)
def test_nifti_to_mla_world_coordinates_match_nibabel(tmp_path, name):
    src = os.path.join(data_path, name)
    dst = tmp_path / output_name(src)
    convert_file(src, str(dst))
    ref = nib.load(src)
    img = MLArray.open(dst)
    assert img.meta.spatial.coord_system == "RAS"
    assert img.meta.source_format.startswith("nifti")
    ijk = np.array([[0, 0, 0], [1, 2, 3], [s - 1 for s in ref.shape[:3]]])
    np.testing.assert_allclose(_world_mla(img, ijk), apply_affine(ref.affine, ijk), atol=1e-4)
    np.testing.assert_allclose(img.to_numpy(), np.asanyarray(ref.dataobj), rtol=1e-6)


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz"])
def test_nifti_mla_nifti_round_trip_restores_header(tmp_path, name):
    src = os.path.join(data_path, name)
    mla = tmp_path / "x.mla"
    out = tmp_path / ("back" + (".nii.gz" if name.endswith(".gz") else ".nii"))
    convert_file(src, str(mla))
    convert_file(str(mla), str(out))
    a, b = nib.load(src), nib.load(out)
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-5)
    np.testing.assert_allclose(np.asanyarray(b.dataobj), np.asanyarray(a.dataobj), rtol=1e-6)
    for key in ("descrip", "qform_code", "sform_code", "intent_code", "xyzt_units"):
        assert b.header[key] == a.header[key], key
    assert [f.name for f in tmp_path.iterdir() if "partial" in f.name] == []


def test_segmentation_flag_keeps_integers(tmp_path):
    labels = np.zeros((20, 30, 10), np.int16)
    labels[5:10, 5:20, 2:6] = 3
    src = tmp_path / "seg.nii.gz"
    nib.save(nib.Nifti1Image(labels, np.diag([0.5, 0.5, 2, 1])), src)
    assert main(["convert", "--seg", "-q", str(src), str(tmp_path / "seg.mla")]) == 0
    img = MLArray.open(tmp_path / "seg.mla")
    assert img.meta.is_seg is True
    assert np.issubdtype(img.dtype, np.integer)
    np.testing.assert_array_equal(img.to_numpy(), labels)


def test_cli_info_reads_header_only_and_json(tmp_path, capsys):
    src = os.path.join(data_path, "anatomical.nii")
    assert main(["convert", "-q", src, str(tmp_path / "a.mla")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "a.mla")]) == 0
    text = capsys.readouterr().out
    assert "spacing" in text and "RAS" in text and "nifti1" in text
    assert main(["info", "--json", str(tmp_path / "a.mla")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["meta"]["spatial"]["coord_system"] == "RAS"
    assert d["shape"] == list(nib.load(src).shape)


def test_cli_batch_continues_after_a_bad_file(tmp_path, capsys):
    good = os.path.join(data_path, "anatomical.nii")
    shutil.copy(good, tmp_path / "good.nii")
    (tmp_path / "bad.nii").write_bytes(b"not a nifti at all" * 30)
    out = tmp_path / "out"
    rc = main(["convert", "-q", "--jobs", "2", str(tmp_path / "good.nii"), str(tmp_path / "bad.nii"), str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "converted 1 of 2" in err and "bad.nii" in err
    assert sorted(os.listdir(out)) == ["good.mla"]  # nothing half-written for the bad one


def test_cli_errors_and_exit_codes(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing.nii"), str(tmp_path / "m.mla")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x.xyz").write_text("?")
    assert main(["convert", str(tmp_path / "x.xyz"), str(tmp_path / "x.mla")]) == 1
    assert "unsupported file extension" in capsys.readouterr().err
    (tmp_path / "broken.mla").write_bytes(b"\x00" * 100)
    assert main(["validate", str(tmp_path / "broken.mla")]) == 1
    assert "not an MLArray file" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "broken.mla")]) == 1


def test_cli_validate_ok_and_aliases(tmp_path):
    src = os.path.join(data_path, "anatomical.nii")
    mla = tmp_path / "a.mla"
    assert main(["convert", "-q", src, str(mla)]) == 0
    assert main(["validate", str(mla)]) == 0
    for cmd in (["mlarray", "validate", str(mla)], ["mlarray_header", str(mla)]):
        exe = shutil.which(cmd[0])
        if exe is None:  # console scripts exist once the package is installed (CI installs it)
            pytest.fail(f"console script {cmd[0]} is not installed; run pip install -e .")
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_dicom_series_to_mla_keeps_lps_geometry(tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file

    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    series = tmp_path / "series"
    series.mkdir()
    z0 = float(base.ImagePositionPatient[2])
    for i in [2, 0, 1]:
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.ImagePositionPatient = [base.ImagePositionPatient[0], base.ImagePositionPatient[1], z0 + 2.5 * i]
        ds.InstanceNumber = i + 1
        ds.SOPInstanceUID = f"{base.SOPInstanceUID}.{i}"
        ds.save_as(series / f"s{i}.dcm")
    assert main(["convert", "-q", str(series), str(tmp_path / "ct.mla")]) == 0
    img = MLArray.open(tmp_path / "ct.mla")
    assert img.meta.spatial.coord_system == "LPS"
    assert img.shape[0] == 3
    ipp = np.asarray(base.ImagePositionPatient, float)
    np.testing.assert_allclose(_world_mla(img, [[0, 0, 0]])[0], ipp, atol=1e-4)
    np.testing.assert_allclose(_world_mla(img, [[2, 0, 0]])[0], ipp + [0, 0, 5.0], atol=1e-4)
    assert img.meta.source_format == "dicom"


def test_slicer_segmentation_nrrd_fills_class_table(tmp_path):
    import nrrd

    labels = np.zeros((12, 20, 16), np.uint8)
    labels[2:6, 3:9, 4:8] = 1
    labels[7:10, 10:15, 2:5] = 2
    header = {"space": "left-posterior-superior", "space directions": np.diag([0.8, 0.8, 2.0]),
              "space origin": [10.0, 20.0, -5.0], "kinds": ["domain"] * 3,
              "Segment0_Name": "liver", "Segment0_LabelValue": "1", "Segment0_Layer": "0",
              "Segment0_Color": "0.9 0.4 0.3",
              "Segment1_Name": "tumour", "Segment1_LabelValue": "2", "Segment1_Layer": "0",
              "Segment1_Color": "0.2 0.8 0.2"}
    src = tmp_path / "case.seg.nrrd"
    nrrd.write(str(src), labels, header)
    assert main(["convert", "-q", str(src), str(tmp_path / "case.mla")]) == 0
    img = MLArray.open(tmp_path / "case.mla")
    assert img.meta.is_seg is True
    assert [(c["id"], c["name"]) for c in img.meta.classes] == [(1, "liver"), (2, "tumour")]
    assert img.meta.classes[0]["color"] == pytest.approx([0.9, 0.4, 0.3, 1.0])
    assert img.meta.pyramid.method in (None, "mode")
    np.testing.assert_array_equal(img.to_numpy(), labels)


def test_pyramidal_tiff_levels_become_the_stored_pyramid(tmp_path):
    import tifffile

    rng = np.random.default_rng(2)
    base = rng.integers(0, 255, (512, 384), dtype=np.uint8)
    lv1 = base[::2, ::2].copy()
    lv2 = base[::4, ::4].copy()
    src = tmp_path / "slide.ome.tif"
    with tifffile.TiffWriter(src) as tw:
        tw.write(base, subifds=2, tile=(256, 256), metadata={"axes": "YX"})
        tw.write(lv1, subfiletype=1, tile=(128, 128))
        tw.write(lv2, subfiletype=1, tile=(64, 64))
    assert main(["convert", "-q", str(src), str(tmp_path / "slide.mla")]) == 0
    img = MLArray.open(tmp_path / "slide.mla")
    assert img.meta.pyramid.method == "source"
    assert [lv.shape for lv in img.levels] == [(512, 384), (256, 192), (128, 96)]
    np.testing.assert_array_equal(img.levels[1][:], lv1)  # the TIFF's own level, not a recomputed mean
    np.testing.assert_array_equal(img.levels[2][:], lv2)
    assert img.levels[2].scale == (4.0, 4.0)


BATCH_AFTER_BLOSC2_USE = """
import sys, numpy as np, nibabel as nib, blosc2
from mlarray.cli import run_batch
folder = sys.argv[1]
for i in range(4):
    nib.save(nib.Nifti1Image(np.full((8, 16, 16), i, np.int16), np.eye(4)), f"{folder}/c{i}.nii.gz")
blosc2.set_nthreads(1)
blosc2.asarray(np.zeros((64, 64, 64), np.int16))  # the parent's Blosc2 thread pool is in use ...
blosc2.set_nthreads(2)
blosc2.asarray(np.zeros((64, 64, 64), np.int16))
res = run_batch([(f"{folder}/c{i}.nii.gz", f"{folder}/c{i}.mla") for i in range(4)], jobs=2, quiet=True)
print(sum(r[2] is None for r in res))
"""


def test_process_pool_survives_a_parent_that_used_blosc2_threads(tmp_path):
    # ... and forked workers used to inherit it mid-state and hang; the pool now spawns them.
    run = subprocess.run([sys.executable, "-c", BATCH_AFTER_BLOSC2_USE, str(tmp_path)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "4"
