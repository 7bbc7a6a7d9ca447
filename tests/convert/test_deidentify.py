"""``mlarray convert --deidentify``: the source header a converted file keeps loses the patient's identifiers.

The reference is dicom-anonymizer (KitwareMedical), which applies the DICOM PS3.15 Basic Application
Level Confidentiality Profile to a pydicom dataset: every attribute whose value it changes or removes
must not keep its original value in our ``source``; what it leaves alone (geometry, modality) stays.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mlarray import MLArray
from mlarray.cli import main
from mlarray.convert import read_any, write_any
from mlarray.convert._bridge import mlarray_to_record

anonymizer = pytest.importorskip("dicomanonymizer.simpledicomanonymizer",
                                 reason="the 'deidentify' extra (dicom-anonymizer) is the reference")

CT = get_testdata_file("CT_small.dcm")


def _changed_by_the_profile(path):
    """(tag hex, original value) of the top-level attributes the reference anonymizer removes or changes."""
    original = pydicom.dcmread(path, stop_before_pixels=True)
    anonymized = copy.deepcopy(original)  # Dataset.copy() shares the elements the anonymizer changes
    anonymizer.anonymize_dataset(anonymized)
    changed = []
    for elem in original:
        if elem.VR == "SQ" or elem.is_empty:
            continue
        kept = anonymized.get(elem.tag)
        if kept is None or kept.value != elem.value:
            changed.append((f"{int(elem.tag):08X}", elem.value))
    return changed, anonymized


def _dicom_json(meta_source):
    return meta_source["dicom"]


def test_deidentified_source_keeps_no_value_the_profile_removes(tmp_path):
    changed, anonymized = _changed_by_the_profile(CT)
    names = {pydicom.datadict.keyword_for_tag(int(t, 16)) for t, _ in changed}
    assert {"PatientName", "PatientID", "StudyDate", "StudyInstanceUID"} <= names  # the file has them
    assert main(["convert", "-q", "--deidentify", CT, str(tmp_path / "ct.mla")]) == 0
    source = MLArray.open(tmp_path / "ct.mla").meta.source
    header = _dicom_json(source)
    for tag, value in changed:
        assert tag not in header, (pydicom.datadict.keyword_for_tag(int(tag, 16)), value)
    text = json.dumps(source)
    assert str(pydicom.dcmread(CT).PatientName) not in text and "sop_instance_uids" not in source
    # what the profile keeps stays: modality and geometry
    for kw in ("Modality", "ImagePositionPatient", "PixelSpacing", "Rows"):
        tag = f"{int(pydicom.datadict.tag_for_keyword(kw)):08X}"
        assert tag in header and kw in anonymized
    # the voxels and geometry are those of the plain conversion
    assert main(["convert", "-q", CT, str(tmp_path / "plain.mla")]) == 0
    plain = MLArray.open(tmp_path / "plain.mla")
    np.testing.assert_array_equal(MLArray.open(tmp_path / "ct.mla").to_numpy(), plain.to_numpy())
    assert str(pydicom.dcmread(CT).PatientName) in json.dumps(plain.meta.source)  # the default keeps the header


def test_ome_zarr_export_of_an_identified_mla_is_deidentified(tmp_path):
    import zarr

    assert main(["convert", "-q", CT, str(tmp_path / "ct.mla")]) == 0  # the header kept whole
    # the documented API: write_any(..., deidentify=True)
    write_any(mlarray_to_record(MLArray.open(tmp_path / "ct.mla")), tmp_path / "ct.ome.zarr", deidentify=True)
    attrs = json.dumps(dict(zarr.open_group(str(tmp_path / "ct.ome.zarr"), mode="r").attrs))
    assert '"mlarray"' in attrs and '"dicom"' in attrs
    for tag, value in _changed_by_the_profile(CT)[0]:
        assert f'"{tag}"' not in attrs
    assert str(pydicom.dcmread(CT).PatientName) not in attrs


def test_read_any_deidentify_keyword(tmp_path):
    changed, _ = _changed_by_the_profile(CT)
    plain, clean = read_any(CT), read_any(CT, deidentify=True)
    np.testing.assert_array_equal(plain.array, clean.array)
    in_plain = [tag for tag, _ in changed if tag in plain.source["dicom"]]  # binary values are never kept
    assert len(in_plain) >= 10  # by default the header stays whole, identifiers included
    assert not any(tag in clean.source["dicom"] for tag, _ in changed)
