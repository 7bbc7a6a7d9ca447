"""The files the converters are held to ITK on: real ones shipped inside nibabel, pydicom and
pydicom-data, and hard synthetic ones generated at test time with pydicom, highdicom, nibabel
and pynrrd. ``CASES[name] = (kind, make)``; ``make(folder)`` returns the path to convert.
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import numpy as np

__all__ = ["CASES", "REAL", "SYNTHETIC", "REFERENCE_FIX", "make_series", "make_seg", "OBLIQUE_IOP"]

OBLIQUE_IOP = [0.0, 0.8, 0.6, 0.28, -0.576, 0.768]  # unit, orthogonal, not axis aligned


def _pydicom_file(name: str) -> str:
    from pydicom.data import get_testdata_file

    p = get_testdata_file(name, download=False)
    if p is None:
        raise FileNotFoundError(f"{name}: install pydicom-data (the 'test' extra) for pydicom's larger test files")
    return str(p)


def _nib_file(name: str) -> str:
    from nibabel.testing import data_path

    return os.path.join(data_path, name)


def _real_dicom(name):
    return lambda folder: _pydicom_file(name)


def _real_nifti(name):
    return lambda folder: _nib_file(name)


def _datastore_series(tag: str, modality: str, sub: str = ""):
    """A real multi-file series from pydicom-data, copied into its own folder."""
    def make(folder: Path) -> str:
        import shutil

        import pydicom
        from pydicom.data import get_testdata_files

        out = folder / f"series_{tag}_{modality}"
        out.mkdir(parents=True, exist_ok=True)
        files = [f for f in get_testdata_files() if f"/{tag}/{sub}" in f.replace(os.sep, "/") and os.path.isfile(f)]
        kept = 0
        for f in sorted(files):
            try:
                ds = pydicom.dcmread(f, stop_before_pixels=True)
            except Exception:
                continue
            if str(ds.get("Modality", "")) == modality and "ImagePositionPatient" in ds:
                shutil.copy(f, out / (os.path.basename(f) + ".dcm"))
                kept += 1
        if kept == 0:
            raise FileNotFoundError(f"pydicom-data holds no {modality} series under {tag}")
        return str(out)
    return make


# --------------------------------------------------------------------------- synthetic DICOM

def make_series(folder: Path, name="CT_small.dcm", steps=(0, 2.5, 5.0, 7.5), iop=None, seed=0,
                series_uid=None) -> tuple[list, np.ndarray, list, object]:
    """Copies of one real slice at ``steps`` mm along the normal, written in shuffled order.

    Slice k holds raw + 7*k so order errors show up as value errors.
    """
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(_pydicom_file(name))
    if iop is not None:
        base.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
    iop = np.array([float(v) for v in base.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    ipp0 = np.array([float(v) for v in base.ImagePositionPatient])
    raw0 = base.pixel_array.copy()
    series_uid = series_uid or generate_uid()
    order = list(range(len(steps)))
    random.Random(seed).shuffle(order)
    truth = {}
    for n, k in enumerate(order):
        ds = copy.deepcopy(base)
        ipp = ipp0 + normal * steps[k]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
        ds.InstanceNumber = n + 1  # deliberately not the spatial order
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        arr = (raw0 + 7 * k).astype(raw0.dtype)
        ds.PixelData = arr.tobytes()
        ds.save_as(folder / f"img_{n:03d}.dcm")
        truth[k] = (np.array([float(f"{v:.6f}") for v in ipp]), arr)
    ps = [float(v) for v in base.PixelSpacing]
    return [truth[k] for k in range(len(steps))], iop, ps, base


def _series(**kw):
    def make(folder: Path) -> str:
        make_series(folder / "series", **kw)
        return str(folder / "series")
    return make


def _rtdose_offsets(offsets):
    """rtdose.dcm with its GridFrameOffsetVector replaced (e.g. descending: negative step)."""
    def make(folder: Path) -> str:
        import pydicom

        ds = pydicom.dcmread(_pydicom_file("rtdose.dcm"))
        n = int(ds.NumberOfFrames)
        ds.GridFrameOffsetVector = [float(offsets(k)) for k in range(n)]
        out = folder / "rtdose_synth.dcm"
        ds.save_as(out)
        return str(out)
    return make


def _rtdose_oblique(folder: Path) -> str:
    import pydicom

    ds = pydicom.dcmread(_pydicom_file("rtdose.dcm"))
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in OBLIQUE_IOP]
    out = folder / "rtdose_oblique.dcm"
    ds.save_as(out)
    return str(out)


# --------------------------------------------------------------------------- synthetic NIfTI

def _ramp(shape, dtype=np.int16):
    rng = np.random.default_rng(7)
    return (np.arange(int(np.prod(shape))).reshape(shape) % 997 + rng.integers(0, 3, shape)).astype(dtype)


def _rot(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _nifti(kind: str):
    def make(folder: Path) -> str:
        import nibabel as nib

        shape = (11, 13, 7)
        aff = np.eye(4)
        if kind == "oblique":
            aff[:3, :3] = _rot(0.3, -0.2, 0.5) @ np.diag([0.9, 1.1, 2.5])
            aff[:3, 3] = [-20.5, 13.25, 40.0]
        elif kind == "left_handed":
            aff[:3, :3] = np.diag([-0.8, 1.2, 3.0])
            aff[:3, 3] = [30, -40, 5]
        elif kind == "permuted":  # sagittal acquisition: i runs A->P, j S->I, k L->R
            aff[:3, :3] = np.array([[0, 0, 1.5], [-0.7, 0, 0], [0, -0.9, 0]])
            aff[:3, 3] = [-10, 60, 80]
        data = _ramp(shape)
        img = nib.Nifti1Image(data, aff)
        img.set_qform(aff, 1)
        img.set_sform(aff, 2 if kind == "oblique" else 1)
        out = folder / f"{kind}.nii.gz"
        nib.save(img, out)
        return str(out)
    return make


def _nifti_2d(folder: Path) -> str:
    import nibabel as nib

    aff = np.diag([0.5, 0.7, 3.0, 1.0])
    aff[:3, 3] = [5, 6, 7]
    out = folder / "slice2d.nii"
    nib.save(nib.Nifti1Image(_ramp((21, 17)), aff), out)
    return str(out)


def _nifti_scaled(folder: Path) -> str:
    import nibabel as nib

    aff = np.diag([1.5, 1.5, 2.0, 1.0])
    img = nib.Nifti1Image(_ramp((12, 10, 6)), aff)
    img.header.set_slope_inter(0.25, -100.0)
    img.header.set_xyzt_units("mm", "sec")
    out = folder / "scaled_int16.nii.gz"
    nib.save(img, out)
    return str(out)


def _nifti_4d(folder: Path) -> str:
    import nibabel as nib

    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    aff[:3, 3] = [-30, -40, -20]
    img = nib.Nifti1Image(_ramp((9, 8, 5, 4)), aff)
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][4] = 2500.0
    out = folder / "bold4d.nii.gz"
    nib.save(img, out)
    return str(out)


def _nifti_vector(folder: Path) -> str:
    import nibabel as nib

    aff = np.diag([1.0, 1.25, 2.0, 1.0])
    data = _ramp((8, 7, 5, 1, 3)).astype(np.float32)  # dim[5] = 3 components (NIfTI vector layout)
    img = nib.Nifti1Image(data, aff)
    img.header.set_intent("vector")
    out = folder / "vector.nii.gz"
    nib.save(img, out)
    return str(out)


def _nifti_sform_qform(folder: Path) -> str:
    import nibabel as nib

    q = np.diag([1.0, 1.0, 2.0, 1.0])
    q[:3, 3] = [-5, -6, -7]
    s = q.copy()
    s[:3, :3] = _rot(0.0, 0.0, 0.4) @ s[:3, :3]
    s[:3, 3] = [20, 30, 40]
    img = nib.Nifti1Image(_ramp((10, 9, 6)), s)
    img.set_qform(q, 1)
    img.set_sform(s, 2)
    out = folder / "sform_ne_qform.nii.gz"
    nib.save(img, out)
    return str(out)


# --------------------------------------------------------------------------- synthetic NRRD

def _nrrd(kind: str):
    def make(folder: Path) -> str:
        import nrrd

        if kind == "oblique_lps":
            data = _ramp((9, 10, 6))
            dirs = (_rot(0.2, 0.4, -0.3) @ np.diag([0.6, 0.8, 2.0])).T  # one row per axis
            header = {"space": "left-posterior-superior", "space directions": dirs,
                      "space origin": np.array([12.0, -7.5, 33.0]), "kinds": ["domain"] * 3}
        elif kind == "ras":
            data = _ramp((8, 6, 5))
            header = {"space": "right-anterior-superior", "space directions": np.diag([-1.0, 0.5, 2.0]),
                      "space origin": np.array([1.0, 2.0, 3.0]), "kinds": ["domain"] * 3}
        else:  # vector: a 3-component displacement field, components first as ITK/Slicer write them
            data = _ramp((3, 7, 6, 5)).astype(np.float32)
            dirs = np.full((4, 3), np.nan)
            dirs[1:] = np.diag([1.5, 1.5, 2.5])
            header = {"space": "left-posterior-superior", "space directions": dirs,
                      "space origin": np.array([0.0, 10.0, -20.0]), "kinds": ["vector", "domain", "domain", "domain"]}
        out = folder / f"{kind}.nrrd"
        nrrd.write(str(out), data, header)
        return str(out)
    return make


# --------------------------------------------------------------------------- DICOM SEG

def make_seg(folder: Path) -> tuple[str, str, np.ndarray]:
    """A 4-slice oblique CT series and a 2-segment DICOM SEG on it (highdicom).

    Returns (series folder, seg file, expected label volume in (slice, row, col) order).
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    series = folder / "ct"
    make_series(series, iop=OBLIQUE_IOP, steps=(0, 3, 6, 9))
    dss = [pydicom.dcmread(f) for f in sorted(series.iterdir())]
    normal = np.cross(np.asarray(OBLIQUE_IOP[:3]), np.asarray(OBLIQUE_IOP[3:]))
    dss.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal)))
    rows, cols = int(dss[0].Rows), int(dss[0].Columns)
    labels = np.zeros((len(dss), rows, cols), np.uint8)
    labels[1:3, 20:60, 30:90] = 1
    labels[2:4, 70:100, 10:40] = 2
    descs = []
    for number, (name, color) in enumerate([("liver", (221, 130, 101)), ("tumour", (144, 238, 144))], start=1):
        descs.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=name,
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Organ,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        ))
        descs[-1].RecommendedDisplayCIELabValue = list(hd.color.CIELabColor(*_rgb_to_lab(color)).value)
    seg = hd.seg.Segmentation(
        source_images=dss, pixel_array=labels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descs, series_instance_uid=hd.UID(), series_number=99,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test", manufacturer_model_name="test",
        software_versions="0", device_serial_number="0",
    )
    out = folder / "seg.dcm"
    seg.save_as(out)
    return str(series), str(out), labels


def _rgb_to_lab(rgb):
    """sRGB (0-255) -> CIELab (D65), the colour space DICOM stores display colours in."""
    c = np.asarray(rgb, float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return float(116 * f[1] - 16), float(500 * (f[0] - f[1])), float(200 * (f[1] - f[2]))


def _seg_case(folder: Path) -> str:
    series, seg, labels = make_seg(folder)
    np.save(folder / "expected_labels.npy", labels)
    return seg


def _binary_as_labels(src, folder, view):
    """ITK presents 1-bit SEG frames as 0/255; the segment label is 1."""
    view.array = (view.array > 0).astype(np.uint8)
    return view


def _labels_on_series(src, folder, view):
    """The reference of a SEG drawn on a series: ITK's grid of that series, holding the drawn labels."""
    from itk_oracle import itk_read, itk_view

    ref = itk_view(itk_read(folder / "ct"))
    labels = np.load(folder / "expected_labels.npy")  # (slice, row, col) = ITK index reversed
    ref.array = np.transpose(labels, (2, 1, 0))[..., None]
    return ref


def _dose_scaled(src, folder, view):
    """ITK (SimpleITK 2.5) presents an RT Dose's stored integers; the dose is they times DoseGridScaling."""
    import pydicom

    scaling = float(pydicom.dcmread(src, stop_before_pixels=True).DoseGridScaling)
    assert scaling != 1.0  # else this fix would hide nothing
    view.array = view.array.astype(np.float64) * scaling
    return view


# ITK's reading of these files differs from what they mean; the table says how (docs/conversion.md)
REFERENCE_FIX = {
    "DICOM SEG, 1 frame (liver_1frame)": _binary_as_labels,
    "DICOM SEG, 3 frames (liver)": _binary_as_labels,
    "DICOM SEG (highdicom) on an oblique series": _labels_on_series,
    "RT Dose multi-frame (rtdose)": _dose_scaled,
    "RT Dose, GridFrameOffsetVector descending": _dose_scaled,
    "RT Dose, relative offsets not from 0": _dose_scaled,
    "RT Dose, oblique": _dose_scaled,
}

REAL = {
    "NIfTI-1 anatomical (nibabel)": ("nifti", _real_nifti("anatomical.nii")),
    "NIfTI-1 4D fMRI (nibabel example4d)": ("nifti", _real_nifti("example4d.nii.gz")),
    "NIfTI-2 (nibabel)": ("nifti", _real_nifti("example_nifti2.nii.gz")),
    "NIfTI-1 reoriented, moved (nibabel)": ("nifti", _real_nifti("reoriented_anat_moved.nii")),
    "NIfTI-1 resampled, moved (nibabel)": ("nifti", _real_nifti("resampled_anat_moved.nii")),
    "NIfTI-1 functional (nibabel)": ("nifti", _real_nifti("functional.nii")),
    "NIfTI-1 standard, LAS (nibabel)": ("nifti", _real_nifti("standard.nii.gz")),
    "CT slice (CT_small)": ("dicom", _real_dicom("CT_small.dcm")),
    "MR slice (MR_small)": ("dicom", _real_dicom("MR_small.dcm")),
    "MR slice, RLE (MR_small_RLE)": ("dicom", _real_dicom("MR_small_RLE.dcm")),
    "MR slice, JPEG-LS (MR_small_jpeg_ls_lossless)": ("dicom", _real_dicom("MR_small_jpeg_ls_lossless.dcm")),
    "CT, JPEG 2000 (693_J2KR)": ("dicom", _real_dicom("693_J2KR.dcm")),
    "NM, 12-bit JPEG extended (JPEG-lossy)": ("dicom", _real_dicom("JPEG-lossy.dcm")),
    "NM, 12-bit JPEG extended (JPGExtended)": ("dicom", _real_dicom("JPGExtended.dcm")),
    "RT Dose multi-frame (rtdose)": ("dicom", _real_dicom("rtdose.dcm")),
    "Enhanced CT multi-frame (eCT_Supplemental)": ("dicom", _real_dicom("eCT_Supplemental.dcm")),
    "DICOM SEG, 1 frame (liver_1frame)": ("dicom", _real_dicom("liver_1frame.dcm")),
    "DICOM SEG, 3 frames (liver)": ("dicom", _real_dicom("liver.dcm")),
    "Secondary Capture RGB (SC_rgb)": ("dicom", _real_dicom("SC_rgb.dcm")),
    "Secondary Capture RGB, 2 frames (SC_rgb_2frame)": ("dicom", _real_dicom("SC_rgb_2frame.dcm")),
    "Secondary Capture, no geometry (JPEG2000_UNC)": ("dicom", _real_dicom("JPEG2000_UNC.dcm")),
    "Ultrasound RGB (US1_UNCR)": ("dicom", _real_dicom("US1_UNCR.dcm")),
    "Ultrasound, 2 frames (OBXXXX1A_2frame)": ("dicom", _real_dicom("OBXXXX1A_2frame.dcm")),
    "CR radiograph, no geometry (RG1_UNCR)": ("dicom", _real_dicom("RG1_UNCR.dcm")),
    "pydicom-data CT series, uneven (4 slices)": ("dicom", _datastore_series("77654033", "CT", "CT2")),
    "pydicom-data CT series, descending (5 slices)": ("dicom", _datastore_series("98892001", "CT", "CT5N")),
}

SYNTHETIC = {
    "DICOM series, axial, files shuffled": ("dicom", _series()),
    "DICOM series, oblique": ("dicom", _series(iop=OBLIQUE_IOP)),
    "DICOM series, negative step, oblique": ("dicom", _series(iop=OBLIQUE_IOP, steps=(0, -2, -4, -6, -8))),
    "DICOM series, sagittal": ("dicom", _series(name="MR_small.dcm", iop=[0, 1, 0, 0, 0, -1], steps=(0, 4, 8))),
    "RT Dose, GridFrameOffsetVector descending": ("dicom", _rtdose_offsets(lambda k: -5.0 * k)),
    "RT Dose, relative offsets not from 0": ("dicom", _rtdose_offsets(lambda k: 12.0 + 2.5 * k)),
    "RT Dose, oblique": ("dicom", _rtdose_oblique),
    "NIfTI oblique (sform 2)": ("nifti", _nifti("oblique")),
    "NIfTI left-handed": ("nifti", _nifti("left_handed")),
    "NIfTI permuted axes (sagittal)": ("nifti", _nifti("permuted")),
    "NIfTI 2D": ("nifti", _nifti_2d),
    "NIfTI scaled int16 (slope/inter)": ("nifti", _nifti_scaled),
    "NIfTI 4D with TR": ("nifti", _nifti_4d),
    "NIfTI vector (intent, dim[5]=3)": ("nifti", _nifti_vector),
    "NIfTI sform != qform": ("nifti", _nifti_sform_qform),
    "NRRD oblique LPS": ("nrrd", _nrrd("oblique_lps")),
    "NRRD RAS, flipped axis": ("nrrd", _nrrd("ras")),
    "NRRD 3-vector field": ("nrrd", _nrrd("vector")),
    "DICOM SEG (highdicom) on an oblique series": ("dicom", _seg_case),
}

CASES = {**REAL, **SYNTHETIC}
