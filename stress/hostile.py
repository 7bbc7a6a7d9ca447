#!/usr/bin/env python
"""Crafted hostile inputs: structurally valid files that ask for too much or point elsewhere.

    python stress/hostile.py OUTDIR [--large]     # write every case (small sizes; --large: issue sizes)

Each builder writes one case into a folder and returns a :class:`Case`: where the file is, what a
correct reader must do (``expect``) and how to exercise it (``ops``). The regression tests
(``tests/reliability/test_hostile_*.py``), the structure-aware fuzzer (``stress/fuzz_struct.py``)
and the item-6 experiments (``stress/experiments.py``) build their files here, so a case is
described once. Sizes: the default ``n`` of each builder is the issue's figure; tests pass smaller
ones and lower the limits with ``mlarray.limits`` so the same code path runs in milliseconds.

``expect``:
  ``limit``       a :class:`mlarray.LimitExceededError` (names the limit and how to raise it)
  ``unsafe``      :class:`mlarray.UnsafeLegacyFileError` (nothing executed)
  ``corrupt``     another :class:`mlarray.CorruptFileError`
  ``conversion``  :class:`mlarray.convert.ConversionError` (the converter refused the input)
  ``error``       any :class:`mlarray.MLArrayError`
  ``ok``          reads fine (valid data must never be refused)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import random
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

if not __package__:  # run as a script (python stress/x.py): the repository root holds the stress package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress._common import read_meta_json, write_meta_json  # noqa: E402

SECRET = b"TOP-SECRET-" * 64  # content of files outside the input folder; must never reach an output


@dataclass
class Case:
    name: str
    cls: str  # meta, legacy, vlmeta, array, convert, cli
    path: str
    expect: object  # an outcome for all ops, or {op: outcome, "*": default}
    ops: tuple = ("open",)
    note: str = ""
    extra: dict = field(default_factory=dict)


BUILDERS: dict[str, Callable] = {}


def builder(fn: Callable) -> Callable:
    BUILDERS[fn.__name__] = fn
    return fn


# ----------------------------------------------------------------------------- helpers

def mla_with_meta_text(path: Path, text_of) -> Path:
    """A metadata-only ``.mla`` whose ``mla.meta`` is replaced by ``text_of(document_without_extra)``
    (unsealed, as a foreign writer could store it)."""
    from mlarray import Meta, MLArray

    MLArray(meta=Meta(extra={"x": 1})).save(path)
    doc = read_meta_json(path)
    doc.pop("extra", None)
    write_meta_json(path, text_of(json.dumps(doc)[:-1]))
    return path


def legacy_file(path: Path, raw: bytes) -> Path:
    """A file as the published mlarray 0.0.x wrote it: a plain b2nd frame, vlmeta 'mlarray' = ``raw``."""
    import blosc2

    store = blosc2.asarray(np.zeros((2, 2), dtype=np.uint8), urlpath=str(path), mode="w")
    store.schunk.vlmeta["mlarray"] = raw
    del store
    return path


def _boxes_text(n: int, varied: bool, ndim: int = 2) -> str:
    if not varied:
        return ",".join(["[" + ",".join(["[0,1]"] * ndim) + "]"] * n)
    rng = random.Random(n)
    return ",".join("[" + ",".join(f"[{a},{a + rng.randrange(1, 64)}]" for a in
                                   (rng.randrange(100_000) for _ in range(ndim))) + "]" for _ in range(n))


# ----------------------------------------------------------------------------- .mla metadata

@builder
def meta_boxes(d: Path, n: int = 8_000_000, varied: bool = False) -> Case:
    """Issue 12: a ~100 KB file listing 8 M boxes reached 3.4 GB."""
    p = mla_with_meta_text(d / "boxes.mla", lambda head: head + ',"bbox":{"bboxes":[' + _boxes_text(n, varied) + "]}}")
    return Case("meta_boxes", "meta", str(p), "limit", ("open", "info", "napari"), f"{n:,} boxes")


@builder
def meta_classes(d: Path, n: int = 1_000_000) -> Case:
    """Issue 12: 1 M class-table entries: 17 s, 1.1 GB."""
    body = ",".join('{"id":%d,"name":"c%d","color":[0.5,0.5,0.5,1]}' % (i, i) for i in range(n))
    p = mla_with_meta_text(d / "classes.mla", lambda head: head + ',"is_seg":true,"classes":[' + body + "]}")
    return Case("meta_classes", "meta", str(p), "limit", ("open", "info"), f"{n:,} classes")


@builder
def meta_extra_keys(d: Path, n: int = 5_000_000) -> Case:
    """Issue 12: 5 M ``extra`` keys: 72 s, 1.6 GB."""
    body = ",".join('"k%d":%d' % (i, i) for i in range(n))
    p = mla_with_meta_text(d / "extra.mla", lambda head: head + ',"extra":{' + body + "}}")
    return Case("meta_extra_keys", "meta", str(p), "limit", ("open", "info"), f"{n:,} keys")


@builder
def meta_empty_lists(d: Path, n: int = 20_000_000) -> Case:
    """The cheapest text per Python object: ``[],`` is 3 bytes and 56 bytes of list."""
    p = mla_with_meta_text(d / "lists.mla", lambda head: head + ',"extra":{"a":[' + ",".join(["[]"] * n) + "]}}")
    return Case("meta_empty_lists", "meta", str(p), "limit", ("open",), f"{n:,} empty lists")


@builder
def meta_levels(d: Path, n: int = 100_000) -> Case:
    """Issue 12: 100 000 listed pyramid levels: info 9.7 s / 409 MB."""
    from mlarray import MLArray

    p = d / "levels.mla"
    MLArray(np.zeros((8, 8), np.uint8)).save(p)
    doc = read_meta_json(p)
    lv = {"shape": [4, 4], "scale": [2.0, 2.0], "offset": 16, "nbytes": 10, "chunk_size": [4, 4], "block_size": [4, 4]}
    doc["pyramid"] = {"levels": [lv] * n, "method": "mean"}
    write_meta_json(p, doc)
    return Case("meta_levels", "meta", str(p), "limit", ("open", "info", "napari"), f"{n:,} levels")


@builder
def meta_deep(d: Path, n: int = 100_000) -> Case:
    p = mla_with_meta_text(d / "deep.mla", lambda head: head + ',"extra":{"a":' + "[" * n + "]" * n + "}}")
    return Case("meta_deep", "meta", str(p), "corrupt", ("open", "info"), f"nesting {n}")


@builder
def meta_huge_int(d: Path, digits: int = 400, where: str = "spacing") -> Case:
    """An integer beyond any float (400 digits) where a float is expected, or in free-form data."""
    num = "9" * digits
    if where == "spacing":
        body = ',"spatial":{"spacing":[' + num + "]}}"
    else:
        body = ',"extra":{"n":' + num + "}}"
    p = mla_with_meta_text(d / f"int_{where}.mla", lambda head: head + body)
    return Case(f"meta_huge_int_{where}", "meta", str(p), "corrupt" if where == "spacing" else "ok", ("open", "info"))


TERMINAL_ATTACKS = {"writer": "mlarray\x1b]0;PWNED\x07\x1b[2J\x1b[31m", "coord_system": "RAS\x00\x1b[8m",
                    "class": "liver\r\x1b[Kfake line\u202e", "source_format": "nifti1\x9b31m\x1b]52;c;cHduZWQ=\x07"}


@builder
def meta_terminal(d: Path) -> Case:
    """Escape sequences and NULs in strings ``mlarray info`` prints (issue 12, item 5)."""
    from mlarray import Meta, MLArray

    p = d / "terminal.mla"
    a = TERMINAL_ATTACKS
    meta = Meta(is_seg=True, classes={1: a["class"]}, source_format=a["source_format"], extra={"note": a["writer"]})
    MLArray(np.zeros((4, 4), np.uint8), meta=meta).save(p)
    doc = read_meta_json(p)
    doc["writer"] = a["writer"]
    doc.setdefault("spatial", {})["coord_system"] = a["coord_system"]
    write_meta_json(p, doc)
    return Case("meta_terminal", "cli", str(p), "ok", ("open", "info"))


# ----------------------------------------------------------------------------- vlmeta entries

@builder
def vlmeta_entry(d: Path, key: str = "mla.pad", nbytes: int = 2**30) -> Case:
    """Issue 12, item 6: a 1 GiB ``mla.meta`` or ``mla.pad`` entry (zeros: ~1 MB on disk)."""
    from mlarray import MLArray

    p = d / f"entry_{key.replace('.', '_')}.mla"
    MLArray(np.zeros((8, 8), np.uint8)).save(p)
    from stress._common import open_base

    store = open_base(p, mode="a")
    if key == "mla.meta":  # valid JSON, padded with spaces
        store.vlmeta[key] = json.dumps(read_meta_json(p)) + " " * nbytes
    else:
        store.vlmeta[key] = bytes(nbytes)
    del store
    return Case(f"vlmeta_{key}", "vlmeta", str(p), "limit", ("open", "info", "napari"), f"{nbytes:,} bytes")


# ----------------------------------------------------------------------------- legacy pickles

@builder
def legacy_refs(d: Path, n: int = 30_000_000) -> Case:
    """Issue 12: a 611-byte legacy file (one list of 30 M references to one object) took 2.47 GB."""
    body = b"\x80\x02]q\x00(]q\x01" + b"h\x01" * n + b"e."  # a list of n references to one empty list
    p = legacy_file(d / "legacy_refs.mla", gzip.compress(body, 9))
    return Case("legacy_refs", "legacy", str(p), "unsafe", ("open", "info"), f"{n:,} references")


@builder
def legacy_build(d: Path) -> Case:
    """Issue 12: BUILD on the AxisLabelEnum stand-in set attributes of a library function."""
    # BUILD with (None, {"__qualname__": "PWNED"}): slot state, which pickle applies with setattr
    body = (b"\x80\x02}(X\x06\x00\x00\x00sourcecmlarray.meta\nAxisLabelEnum\nN}X\x0c\x00\x00\x00__qualname__"
            b"X\x05\x00\x00\x00PWNEDs\x86bu.")
    p = legacy_file(d / "legacy_build.mla", gzip.compress(body))
    return Case("legacy_build", "legacy", str(p), "unsafe", ("open", "info"))


@builder
def legacy_huge_int(d: Path, where: str = "spacing") -> Case:
    """Issue 12, item 4: a huge integer escaped as bare ValueError (source/extra) or OverflowError (spacing)."""
    big = 10 ** 400
    doc = {"spatial": {"spacing": [big, 1.0]}} if where == "spacing" else {where: {"n": big}}
    p = legacy_file(d / f"legacy_int_{where}.mla", gzip.compress(pickle.dumps(doc, 2)))
    return Case(f"legacy_huge_int_{where}", "legacy", str(p), "corrupt", ("open", "info"))


@builder
def legacy_gzip_bomb(d: Path, nbytes: int = 1 << 30) -> Case:
    z = gzip.compress(pickle.dumps({"source": {"a": 1}}, 2) + bytes(nbytes), 9)
    p = legacy_file(d / "legacy_bomb.mla", z)
    return Case("legacy_gzip_bomb", "legacy", str(p), "limit", ("open", "info"), f"{nbytes:,} bytes inflated")


# ----------------------------------------------------------------------------- arrays

@builder
def huge_declared_array(d: Path) -> Case:
    """A well-formed, uninitialised 4 TiB array in a < 1 MB file: lazy reads work, whole reads refuse."""
    import blosc2

    from stress._common import assemble_file

    frame = d / "huge.b2nd"
    big = blosc2.uninit((2**20, 2**20), dtype=np.float32, urlpath=str(frame), mode="w", chunks=(256, 256),
                        blocks=(32, 32), meta={"mla": {"version": 1}})
    big.vlmeta["mla.meta"] = json.dumps({"format_version": 1, "has_array": True, "spatial": {"shape": [2**20, 2**20]}})
    del big
    p = d / "huge.mla"
    assemble_file(p, frame.read_bytes())
    frame.unlink()
    return Case("huge_declared_array", "array", str(p), {"open": "ok", "*": "limit"},
                ("open", "to_numpy", "asarray", "getitem", "napari"))


@builder
def many_chunks(d: Path, n: int = 1_000_000) -> Case:
    """Issue 12, item 6: a valid file of a million 1-element chunks (must read, in bounded memory).

    Built as a stranger could: the frame in memory, serialised once, checksums and sealed metadata
    added (``MLArray.save`` of such an array takes hours: C-Blosc2 spends time proportional to the
    chunks already written on each chunk it appends to a file frame; 40,000 chunks took 18.6 s)."""
    import blosc2

    from mlarray._file.format import FormatV1
    from mlarray._file.integrity import write_checksums

    arr = blosc2.asarray(np.arange(n, dtype=np.uint16), chunks=(1,), blocks=(1,), meta={"mla": {"version": 1}})
    write_checksums(arr)
    doc = {"format_version": 1, "writer": "hostile.py", "has_array": True, "spatial": {"shape": [n]},
           "blosc2": {"chunk_size": [1], "block_size": [1], "dtype": "<u2"}}
    FormatV1.write_mapping(arr, doc, chunk_checksums=True)
    p = d / "many_chunks.mla"
    frame = arr.to_cframe()
    del arr
    with open(p, "wb") as fh:  # the 16-byte MLArray header, then the base frame
        from mlarray._file.container import MAGIC

        fh.write(MAGIC + struct.pack("<Q", 16) + frame)
    return Case("many_chunks", "array", str(p), "ok", ("open", "verify", "to_numpy", "info"), f"{n:,} chunks")


# ----------------------------------------------------------------------------- converter inputs

def _nifti_header(shape, dtype=np.float64, vox_offset=352.0) -> bytes:
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr["vox_offset"] = vox_offset
    return hdr.binaryblock + b"\x00" * 4


@builder
def nifti_declared_huge(d: Path, shape=(4096, 4096, 4096)) -> Case:
    """A .nii.gz declaring 512 GiB of float64 voxels in a few hundred bytes."""
    p = d / "declared.nii.gz"
    p.write_bytes(gzip.compress(_nifti_header(shape) + bytes(1024)))
    return Case("nifti_declared_huge", "convert", str(p), "limit", ("convert",))


@builder
def nifti_gzip_bomb(d: Path, nbytes: int = 4 << 30) -> Case:
    """Issue 12, item 6: a gzip bomb inside NIfTI: a small shape, then gigabytes of zeros in the stream."""
    p = d / "bomb.nii.gz"
    with gzip.open(p, "wb", compresslevel=9) as fh:
        fh.write(_nifti_header((8, 8, 8), np.uint8))
        fh.write(bytes(512))
        zeros = bytes(64 << 20)
        for _ in range(nbytes // len(zeros)):
            fh.write(zeros)
    return Case("nifti_gzip_bomb", "convert", str(p), "ok", ("convert",), f"{nbytes:,} trailing bytes (ignored)")


@builder
def nifti_extension_bomb(d: Path, nbytes: int = 1 << 30) -> Case:
    """A .nii.gz whose header extension inflates to ``nbytes`` (nibabel reads each extension whole)."""
    p = d / "ext_bomb.nii.gz"
    with gzip.open(p, "wb", compresslevel=9) as fh:
        fh.write(_nifti_header((2, 2, 2), np.uint8, vox_offset=float(352 + 8 + nbytes))[:-4])
        fh.write(b"\x01\x00\x00\x00" + struct.pack("<ii", 8 + nbytes, 4))
        zeros = bytes(64 << 20)
        left = nbytes
        while left > 0:
            fh.write(zeros[:min(left, len(zeros))])
            left -= len(zeros)
        fh.write(bytes(8))
    return Case("nifti_extension_bomb", "convert", str(p), "limit", ("convert",), f"{nbytes:,}-byte extension")


@builder
def nifti_pair(d: Path, how: str = "inside") -> Case:
    """An Analyze/NIfTI .hdr/.img pair (read by ITK): the .img beside the header converts; a .img that is
    a symlink out of the folder is refused (ITK opens it in C++, unseen by the tripwire)."""
    import nibabel as nib

    upload = d / f"pair_{how}"
    upload.mkdir(exist_ok=True)
    img = nib.Nifti1Pair(np.zeros((4, 4, 4), np.uint8), np.eye(4))
    nib.save(img, upload / "pair.img")
    if how == "symlink":
        private = d / "private"
        private.mkdir(exist_ok=True)
        (private / "secret.img").write_bytes(SECRET[:64])
        (upload / "pair.img").unlink()
        (upload / "pair.img").symlink_to(private / "secret.img")
    return Case(f"nifti_pair_{how}", "convert", str(upload / "pair.hdr"), "ok" if how == "inside" else "conversion",
                ("convert",), extra={"secret": how != "inside"})


@builder
def tiff_pages(d: Path, n: int = 20_000) -> Case:
    """Issue 12, item 6: a 20 k-page TIFF (a valid stack: must convert)."""
    import tifffile

    p = d / "pages.tif"
    tifffile.imwrite(p, np.zeros((n, 8, 8), np.uint8))
    return Case("tiff_pages", "convert", str(p), "ok", ("convert",), f"{n:,} pages")


@builder
def tiff_declared_huge(d: Path, width: int = 1 << 20, length: int = 1 << 20) -> Case:
    """A 200-byte classic TIFF whose one strip declares 1 M x 1 M pixels (tifffile would allocate 1 TiB)."""
    entries = [(256, 4, 1, width), (257, 4, 1, length), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, length), (279, 4, 1, 16)]
    ifd_at = 8 + 16
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", t, ty, c, v) if ty == 4 else
                                                     struct.pack("<HHIHH", t, ty, c, v, 0) for t, ty, c, v in entries)
    data = b"II*\x00" + struct.pack("<I", ifd_at) + bytes(16) + ifd + b"\x00\x00\x00\x00"
    p = d / "declared.tif"
    p.write_bytes(data)
    return Case("tiff_declared_huge", "convert", str(p), "limit", ("convert",))


def _ome_xml(refs: list[str], uuids: list[str]) -> str:
    planes = "".join(f'<TiffData FirstZ="{i}" IFD="0" PlaneCount="1"><UUID FileName="{f}">{u}</UUID></TiffData>'
                     for i, (f, u) in enumerate(zip(refs, uuids)))
    return ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
            f'UUID="{uuids[0]}"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint8" '
            f'SizeX="16" SizeY="16" SizeZ="{len(refs)}" SizeC="1" SizeT="1"><Channel ID="Channel:0:0" '
            f'SamplesPerPixel="1"/>{planes}</Pixels></Image></OME>')


@builder
def ome_outside_ref(d: Path, how: str = "dotdot") -> Case:
    """An OME-TIFF whose second plane is ``<UUID FileName="../private/secret.ome.tif">`` (or an absolute
    path, or a FIFO next to it): tifffile reads it and returns its pixels as a plane of the image."""
    import tifffile

    private, upload = d / "private", d / "upload"
    private.mkdir(exist_ok=True)
    upload.mkdir(exist_ok=True)
    secret = np.frombuffer(SECRET[:256], np.uint8).reshape(16, 16)
    tifffile.imwrite(private / "secret.ome.tif", secret)
    ref = {"dotdot": "../private/secret.ome.tif", "absolute": str(private / "secret.ome.tif"),
           "symlink": "link.ome.tif", "fifo": "pipe.ome.tif"}[how]
    if how == "symlink":
        (upload / "link.ome.tif").symlink_to(private / "secret.ome.tif")
    if how == "fifo":
        os.mkfifo(upload / "pipe.ome.tif")
    uuids = [f"urn:uuid:00000000-0000-0000-0000-00000000000{i}" for i in (1, 2)]
    p = upload / "scan.ome.tif"
    tifffile.imwrite(p, np.zeros((16, 16), np.uint8), description=_ome_xml(["scan.ome.tif", ref], uuids), metadata=None)
    return Case(f"ome_outside_{how}", "convert", str(p), "conversion", ("convert",), extra={"secret": True})


@builder
def metaimage_outside_ref(d: Path, how: str = "dotdot") -> Case:
    """A MetaImage header (.mhd) whose ElementDataFile names a file outside its folder: ITK reads it in
    C++ (unseen by the Python-level tripwire) and returned its bytes as the image."""
    private, upload = d / "private", d / "upload_mhd"
    private.mkdir(exist_ok=True)
    upload.mkdir(exist_ok=True)
    (private / "secret.raw").write_bytes(SECRET[:256])
    (upload / "inside.raw").write_bytes(bytes(256))
    ref = {"dotdot": "../private/secret.raw", "absolute": str(private / "secret.raw"), "symlink": "link.raw",
           "list": "LIST\ninside.raw\n../private/secret.raw", "pattern": "../private/secre%s.raw 1 1 1",
           "fifo": "pipe.raw", "inside": "inside.raw"}[how]
    if how == "symlink":
        (upload / "link.raw").symlink_to(private / "secret.raw")
    if how == "fifo":
        os.mkfifo(upload / "pipe.raw")
    if how == "pattern":
        (private / "secre1.raw").write_bytes(SECRET[:256])
    dims = "16 16 2" if how == "list" else "16 16"
    p = upload / "scan.mhd"
    p.write_text(f"ObjectType = Image\nNDims = {len(dims.split())}\nDimSize = {dims}\nElementType = MET_UCHAR\n"
                 f"ElementDataFile = {ref}\n")
    return Case(f"metaimage_outside_{how}", "convert", str(p), "ok" if how == "inside" else "conversion",
                ("convert",), extra={"secret": how != "inside"})


def _dicom_slice(path: Path, rows: int, cols: int, z: float, series: str = "1.2.3.4", deflate: bool = False,
                 frames: int = 1, pixels: bytes | None = None, **kw) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = (DeflatedExplicitVRLittleEndian if deflate else
                              RLELossless if pixels is not None else ExplicitVRLittleEndian)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.Modality = series, "1.2.3", "CT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, z], [1.0, 0, 0, 0, 1.0, 0]
    ds.PixelSpacing, ds.InstanceNumber = [1.0, 1.0], int(z)
    if frames > 1:
        ds.NumberOfFrames = frames
    for k, v in kw.items():
        setattr(ds, k, v)
    if pixels is not None:
        from pydicom.encaps import encapsulate

        ds.PixelData = encapsulate([pixels])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = np.zeros((rows, cols), np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@builder
def dicom_symlink_outside(d: Path) -> Case:
    """A DICOM folder holding a symlink to a slice of another patient outside it."""
    private, upload = d / "private", d / "series"
    private.mkdir(exist_ok=True)
    upload.mkdir(exist_ok=True)
    for z in range(3):
        _dicom_slice(upload / f"s{z}.dcm", 8, 8, float(z))
    _dicom_slice(private / "other.dcm", 8, 8, 3.0, PatientName="OTHER^PATIENT")
    (upload / "s3.dcm").symlink_to(private / "other.dcm")
    return Case("dicom_symlink_outside", "convert", str(upload), "conversion", ("convert",))


@builder
def dicom_fifo_and_device(d: Path) -> Case:
    """A DICOM folder with a FIFO and a symlink to /dev/zero among the slices (must not hang)."""
    upload = d / "series_fifo"
    upload.mkdir(exist_ok=True)
    for z in range(3):
        _dicom_slice(upload / f"s{z}.dcm", 8, 8, float(z))
    os.mkfifo(upload / "pipe.dcm")
    (upload / "zero.dcm").symlink_to("/dev/zero")
    return Case("dicom_fifo_and_device", "convert", str(upload), "ok", ("convert",), "FIFO and /dev/zero skipped")


@builder
def dicom_mismatched(d: Path) -> Case:
    """Issue 12, item 6: a DICOM series whose slices have different shapes."""
    upload = d / "series_mismatch"
    upload.mkdir(exist_ok=True)
    for z, (r, c) in enumerate([(8, 8), (8, 8), (16, 8)]):
        _dicom_slice(upload / f"s{z}.dcm", r, c, float(z))
    return Case("dicom_mismatched", "convert", str(upload), "conversion", ("convert",))


@builder
def dicom_samples_per_pixel(d: Path, value: int = 0) -> Case:
    """A series with one slice declaring SamplesPerPixel 0: pydicom refuses to decode it, and GDCM
    (the fallback decoder) aborted the process (stress/fuzz_struct.py, seed 7, case 127)."""
    upload = d / "series_spp"
    upload.mkdir(exist_ok=True)
    for z in range(3):
        _dicom_slice(upload / f"s{z}.dcm", 8, 8, float(z), **({"SamplesPerPixel": value} if z == 1 else {}))
    return Case("dicom_samples_per_pixel", "convert", str(upload), "corrupt", ("convert",))


@builder
def dicom_deflate_bomb(d: Path, rows: int = 8192, frames: int = 8) -> Case:
    """A deflated DICOM (pydicom inflates it whole) whose dataset inflates to ``rows^2 * 2 * frames`` bytes."""
    p = d / "deflate.dcm"
    _dicom_slice(p, 8, 8, 0.0, deflate=True)
    import pydicom

    ds = pydicom.dcmread(p)
    ds.Rows = ds.Columns = rows
    ds.NumberOfFrames = frames
    ds.PixelData = bytes(rows * rows * 2 * frames)
    ds.save_as(p, enforce_file_format=True)
    return Case("dicom_deflate_bomb", "convert", str(p), "limit", ("convert",),
                f"{rows * rows * 2 * frames:,} bytes inflated from {os.path.getsize(p):,}")


@builder
def dicom_declared_huge(d: Path) -> Case:
    """A 1 KB RLE file declaring 65535 x 65535 x 10 000 frames (pydicom would allocate 80 TiB)."""
    p = d / "declared.dcm"
    _dicom_slice(p, 65535, 65535, 0.0, frames=10_000, pixels=b"\x00" * 64)
    return Case("dicom_declared_huge", "convert", str(p), "limit", ("convert",))


# ----------------------------------------------------------------------------- CLI

SMALL = {  # sizes for tests and the default run: the same code paths, seconds instead of minutes
    "meta_boxes": {"n": 3_000_000}, "meta_classes": {"n": 150_000}, "meta_extra_keys": {"n": 4_500_000},
    "meta_empty_lists": {"n": 9_000_000}, "meta_levels": {"n": 1_000}, "meta_deep": {"n": 5_000},
    "vlmeta_entry": {"nbytes": 300 << 20}, "legacy_refs": {"n": 5_000_000}, "legacy_gzip_bomb": {"nbytes": 64 << 20},
    "many_chunks": {"n": 20_000}, "nifti_gzip_bomb": {"nbytes": 256 << 20},
    "nifti_extension_bomb": {"nbytes": 300 << 20},
    "tiff_pages": {"n": 2_000}, "dicom_deflate_bomb": {"rows": 2048, "frames": 2},
}


# Small variants whose limit depends on the memory available: run them with the limit lowered.
SMALL_ENV = {"dicom_deflate_bomb": {"MLARRAY_MAX_READ_BYTES": str(8 << 20)}}


def build_all(out: Path, large: bool = False) -> list[Case]:
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, fn in BUILDERS.items():
        d = out / name
        d.mkdir(exist_ok=True)
        case = fn(d, **({} if large else SMALL.get(name, {})))
        if not large:
            case.extra.setdefault("env", {}).update(SMALL_ENV.get(name, {}))
        cases.append(case)
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--large", action="store_true", help="the issue's sizes (8 M boxes, 1 GiB entries, ...)")
    args = ap.parse_args()
    for c in build_all(Path(args.out), args.large):
        print(f"{c.name:28} {c.expect:10} {c.path}  {c.note}")


if __name__ == "__main__":
    main()
