"""``mlarray convert seg.mla seg.dcm``: a segmentation drawn on a converted DICOM series becomes a DICOM SEG
on that series, for axial, tilted (gantry-tilt-like) and oblique series, with or without ``--reference``.

The series are written by SimpleITK and the SEGs read back with highdicom (labels at the same world
positions, segment names) and with our own SEG reader (through the CLI).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

from mlarray import MLArray  # noqa: E402
from mlarray.cli import main  # noqa: E402
from mlarray.meta import Meta  # noqa: E402

SPACING = (0.8, 0.7, 2.5)  # ITK order: between columns, between rows, between slices
_C, _S = 0.966, 0.259  # ImageOrientationPatient [1,0,0, 0,0.966,0.259] as in the report
TILTED = (1, 0, 0, 0, _C, -_S, 0, _S, _C)


def _rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return tuple(float(v) for v in (rz @ ry @ rx).ravel())


OBLIQUE = _rotation(0.3, -0.2, 0.45)
AXIAL = (1, 0, 0, 0, 1, 0, 0, 0, 1)


def write_series(folder, direction, uid_root, n=12, seed=0):
    """A 12-slice CT series written slice by slice by SimpleITK, as ITK's DICOM examples do."""
    os.makedirs(folder, exist_ok=True)
    arr = np.random.default_rng(seed).integers(-1000, 1500, size=(n, 40, 48)).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin((-20.0, -30.0, 15.0))
    img.SetDirection(direction)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = direction
    iop = "\\".join(str(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    for i in range(n):
        s = img[:, :, i]
        for tag, value in (("0008|0060", "CT"), ("0008|0016", "1.2.840.10008.5.1.4.1.1.2"),
                           ("0020|000d", uid_root + ".1"), ("0020|000e", uid_root + ".2"),
                           ("0020|0052", uid_root + ".3"), ("0008|0018", f"{uid_root}.4.{i + 1}"),
                           ("0020|0037", iop), ("0020|0013", str(i + 1)), ("0018|0050", str(SPACING[2])),
                           ("0020|0032", "\\".join(str(v) for v in img.TransformIndexToPhysicalPoint((0, 0, i))))):
            s.SetMetaData(tag, value)
        writer.SetFileName(os.path.join(folder, f"s{i:03d}.dcm"))
        writer.Execute(s)
    return uid_root + ".2"


def _labels(shape):
    lab = np.zeros(shape, np.uint8)
    lab[3:6, 10:20, 10:30] = 1
    lab[7:9, 5:8, 30:40] = 2
    lab[4, 30:35, 2:6] = 2
    return lab


def _segmentation(folder):
    """ct.mla from the series (CLI), and seg.mla drawn on its grid with its source copied."""
    assert main(["convert", str(folder / "series") + "/", str(folder / "ct.mla")]) == 0
    ct = MLArray.open(folder / "ct.mla")
    lab = _labels(ct.shape)
    seg = MLArray(lab, affine=ct.affine,
                  meta=Meta(is_seg=True, classes={1: "liver", 2: "tumour"}, source=dict(ct.meta.source)))
    seg.save(folder / "seg.mla")
    return ct, lab


def _check_with_highdicom(path, ct, lab, series_uid):
    seg = hd.seg.segread(str(path))
    assert {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence} == {1: "liver", 2: "tumour"}
    assert str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID) == series_uid
    vol = seg.get_volume(combine_segments=True)
    values = np.asarray(vol.array)
    idx = np.argwhere(np.ones(values.shape, bool))
    world = idx @ np.asarray(vol.affine)[:3, :3].T + np.asarray(vol.affine)[:3, 3]  # LPS
    ct_aff = np.asarray(ct.affine)  # the series was converted to LPS
    k = np.linalg.solve(ct_aff[:3, :3], (world - ct_aff[:3, 3]).T).T
    ki = np.rint(k).astype(int)
    assert np.allclose(k, ki, atol=1e-2), "highdicom's voxels are not the series' voxels"
    inside = np.all((ki >= 0) & (ki < np.array(lab.shape)), axis=1)
    assert inside.all()
    assert np.array_equal(values.ravel(), lab[tuple(ki.T)])
    for v in (1, 2):  # every labelled voxel is in highdicom's volume
        assert int((values == v).sum()) == int((lab == v).sum())


@pytest.mark.parametrize("direction", [AXIAL, TILTED, OBLIQUE], ids=["axial", "tilted", "oblique"])
@pytest.mark.parametrize("with_reference", [False, True], ids=["beside", "reference"])
def test_seg_export_on_its_series(tmp_path, direction, with_reference):
    uid = write_series(tmp_path / "series", direction, "1.2.826.0.1.3680043.10.511.7")
    ct, lab = _segmentation(tmp_path)
    argv = ["convert", str(tmp_path / "seg.mla"), str(tmp_path / "seg.dcm")]
    if with_reference:
        argv += ["--reference", str(tmp_path / "series") + "/"]
    assert main(argv) == 0
    _check_with_highdicom(tmp_path / "seg.dcm", ct, lab, uid)
    # our own reader puts the SEG back on the series' grid (found beside the SEG)
    assert main(["convert", str(tmp_path / "seg.dcm"), str(tmp_path / "back.mla")]) == 0
    back = MLArray.open(tmp_path / "back.mla")
    assert np.array_equal(back.to_numpy(), lab)
    assert np.allclose(back.affine, ct.affine, atol=1e-4)
    assert {c["id"]: c["name"] for c in back.meta.classes} == {1: "liver", 2: "tumour"}


@pytest.mark.parametrize("with_reference", [False, True], ids=["beside", "reference-to-parent"])
def test_seg_export_chooses_the_series_its_source_names(tmp_path, with_reference):
    """A copy of the series (same grid, another SeriesInstanceUID) lies beside it: the SEG references the
    series the segmentation's source names, whatever folder order or union of folders the search sees."""
    uid = write_series(tmp_path / "series", TILTED, "1.2.826.0.1.3680043.10.511.8")
    ct, lab = _segmentation(tmp_path)
    assert main(["convert", str(tmp_path / "ct.mla"), str(tmp_path / "a_copy") + "/"]) == 0  # sorts first
    copy_uid = {str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID)
                for f in (tmp_path / "a_copy").iterdir()}
    assert copy_uid and uid not in copy_uid
    argv = ["convert", str(tmp_path / "seg.mla"), str(tmp_path / "seg.dcm")]
    if with_reference:
        argv += ["--reference", str(tmp_path)]
    assert main(argv) == 0
    _check_with_highdicom(tmp_path / "seg.dcm", ct, lab, uid)
    # reading it back with the parent folder (both series) as the reference puts it on the named series
    assert main(["convert", str(tmp_path / "seg.dcm"), str(tmp_path / "back.mla"), "--reference", str(tmp_path)]) == 0
    back = MLArray.open(tmp_path / "back.mla")
    assert np.array_equal(back.to_numpy(), lab)
    assert back.meta.source["on_grid_of"]["series_uid"] == uid


def _missing_required(path):
    """Type 1 (absent or empty) and Type 2 (absent) attributes of the mandatory modules of the file's IOD,
    and of every optional or conditional module the file includes (one of its attributes is present: an
    included module must be complete), as highdicom's tables of the standard (PS3.3) list them."""
    from highdicom._standard_utils import construct_module_tree, get_iod_module_map, get_sop_class_iod_map

    ds = pydicom.dcmread(path)
    iod = get_sop_class_iod_map()[str(ds.SOPClassUID)]
    missing = []
    for module in get_iod_module_map()[iod]:
        attributes = construct_module_tree(module["key"])["attributes"]
        if module["usage"] != "M" and not any(kw in ds for kw in attributes):
            continue
        for kw, item in attributes.items():
            kind = item["type"].value
            if kind in ("1", "2") and kw not in ds or kind == "1" and kw in ds and ds[kw].is_empty:
                missing.append(f"{module['key']}:{kw} (type {kind})")
    return missing


def _anatomical_series(tmp_path):
    """anatomical.nii (nibabel's) -> .mla -> a DICOM series, through the CLI: a series from a non-DICOM source."""
    from nibabel.testing import data_path

    assert main(["convert", "-q", os.path.join(data_path, "anatomical.nii"), str(tmp_path / "anat.mla")]) == 0
    assert main(["convert", "-q", str(tmp_path / "anat.mla"), str(tmp_path / "anat_dcm") + "/"]) == 0
    return sorted((tmp_path / "anat_dcm").iterdir())


def test_series_from_a_non_dicom_source_has_every_required_attribute(tmp_path):
    files = _anatomical_series(tmp_path)
    assert files
    for f in files:
        assert _missing_required(f) == [], f
    ds = pydicom.dcmread(files[0])
    assert ds.Modality == "OT" and ds.SeriesNumber is not None and ds.InstanceNumber == 1


@pytest.mark.parametrize("name", ["eCT_Supplemental.dcm", "emri_small.dcm", "rtdose.dcm", "US1_UNCR.dcm",
                                  "CT_small.dcm", "MR_small.dcm"])
def test_series_from_dicom_sources_has_every_required_attribute(tmp_path, name):
    from pydicom.data import get_testdata_file

    assert main(["convert", "-q", get_testdata_file(name), str(tmp_path / "x.mla")]) == 0
    assert main(["convert", "-q", str(tmp_path / "x.mla"), str(tmp_path / "x_dcm") + "/"]) == 0
    files = sorted((tmp_path / "x_dcm").iterdir())
    assert files and all(_missing_required(f) == [] for f in files)


def _seg_on_converted_series(tmp_path):
    """The series converted back to .mla (CLI) and a segmentation drawn on its grid, as a user makes one."""
    _anatomical_series(tmp_path)
    assert main(["convert", "-q", str(tmp_path / "anat_dcm") + "/", str(tmp_path / "from_dcm.mla")]) == 0
    ct = MLArray.open(tmp_path / "from_dcm.mla")
    lab = np.zeros(ct.shape, np.uint8)
    lab[5:15, 10:20, 8:16] = 1
    lab[18:22, 20:30, 10:12] = 2
    MLArray(lab, affine=ct.affine, meta=Meta(is_seg=True, classes={1: "bright", 2: "ventricle"},
                                             source=dict(ct.meta.source))).save(tmp_path / "seg.mla")
    return ct, lab


def test_seg_export_on_a_series_written_from_nifti(tmp_path):
    ct, lab = _seg_on_converted_series(tmp_path)
    argv = ["convert", "-q", str(tmp_path / "seg.mla"), str(tmp_path / "segout") + "/",
            "--reference", str(tmp_path / "anat_dcm")]
    assert main(argv) == 0
    (out,) = (tmp_path / "segout").iterdir()
    seg = hd.seg.segread(str(out))
    assert {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence} == {1: "bright", 2: "ventricle"}
    assert _missing_required(out) == []
    assert main(["convert", "-q", str(out), str(tmp_path / "back.mla"), "--reference", str(tmp_path / "anat_dcm")]) == 0
    np.testing.assert_array_equal(MLArray.open(tmp_path / "back.mla").to_numpy(), lab)


def test_reference_series_lacking_an_attribute_is_named_not_an_attribute_error(tmp_path, capsys):
    _seg_on_converted_series(tmp_path)
    for f in (tmp_path / "anat_dcm").iterdir():  # a user's series without the patient's ID
        ds = pydicom.dcmread(f)
        del ds.PatientID
        ds.save_as(f)
    capsys.readouterr()
    argv = ["convert", str(tmp_path / "seg.mla"), str(tmp_path / "segout") + "/",
            "--reference", str(tmp_path / "anat_dcm")]
    assert main(argv) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "ConversionError" in text and "lacks the DICOM attribute PatientID" in text
    assert "AttributeError" not in text
    assert str(tmp_path / "segout") in text and ".partial" not in text


def test_seg_round_trip_on_an_unevenly_spaced_series(tmp_path):
    import warnings

    from pydicom.data import get_testdata_file

    ct2 = os.path.join(os.path.dirname(get_testdata_file("DICOMDIR")), "77654033", "CT2")  # steps 1.25 to 202.5 mm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the uneven spacing warning of reading the series
        assert main(["convert", "-q", ct2, str(tmp_path / "ct2.mla")]) == 0
    ct = MLArray.open(tmp_path / "ct2.mla")
    lab = np.zeros(ct.shape, np.uint8)
    lab[:, 4:10, 3:12] = 1
    lab[1:3, 10:14, 8:15] = 2
    MLArray(lab, affine=ct.affine, meta=Meta(is_seg=True, classes={1: "body", 2: "lesion"},
                                             source=dict(ct.meta.source))).save(tmp_path / "seg.mla")
    assert main(["convert", "-q", str(tmp_path / "seg.mla"), str(tmp_path / "segout") + "/", "--reference", ct2]) == 0
    (out,) = (tmp_path / "segout").iterdir()
    # highdicom's reading: every frame lies on one of the series' true slice positions
    seg = hd.seg.segread(str(out))
    slice_positions = {tuple(np.round(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient, 3))
                       for f in (os.path.join(ct2, n) for n in os.listdir(ct2))}
    frames = {tuple(np.round(item.PlanePositionSequence[0].ImagePositionPatient, 3))
              for item in seg.PerFrameFunctionalGroupsSequence}
    assert frames <= slice_positions and len(frames) == ct.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "frames do not lie on the referenced series' slices"
        assert main(["convert", "-q", str(out), str(tmp_path / "back.mla"), "--reference", ct2]) == 0
    back = MLArray.open(tmp_path / "back.mla")
    np.testing.assert_array_equal(back.to_numpy(), lab)
    np.testing.assert_allclose(back.affine, ct.affine, atol=1e-6)
    assert back.meta.source["slice_positions"] == ct.meta.source["slice_positions"]


def test_seg_on_a_series_declaring_a_wrong_slice_spacing_follows_the_positions(tmp_path):
    """A series whose SpacingBetweenSlices (1) contradicts its positions (2.5 mm apart), as SimpleITK writes once
    a process has read a DICOM: the SEG declares the positions' spacing, so highdicom can build its volume."""
    import pydicom

    uid = write_series(tmp_path / "series", AXIAL, "1.2.826.0.1.3680043.10.511.9")
    for f in (tmp_path / "series").iterdir():
        ds = pydicom.dcmread(f)
        ds.SpacingBetweenSlices = "1"
        ds.save_as(f)
    ct, lab = _segmentation(tmp_path)
    assert main(["convert", str(tmp_path / "seg.mla"), str(tmp_path / "seg.dcm")]) == 0
    _check_with_highdicom(tmp_path / "seg.dcm", ct, lab, uid)
