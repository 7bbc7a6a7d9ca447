#!/usr/bin/env python
"""Structure-aware fuzzing: mutate what a file *means*, not random bytes.

    python stress/fuzz_struct.py --cases 2000 [--seed 0] [--jobs 2] [--mem-mb 2048] [--timeout 60] [--json out.json]
                                 [--max-seconds 1500]                  # a bounded wall-time run
    python stress/fuzz_struct.py --replay 137 [--seed 0]        # one case again, its files kept

``stress/fuzz.py`` flips bytes; this one knows the structures and edits them where they are parsed:

  json_field     a field of the metadata document set to another type, a huge/negative/control-
                 character value, removed, or its list replicated 10x..10^6x (counts: boxes, classes,
                 levels, keys, nesting)
  frame_header   an integer of the Blosc2 frame header or b2nd metalayer (lengths, shape, chunk and
                 block shape, typesize) set to a boundary value
  chunk_index    entries of the chunk offset index (decompressed, edited, recompressed in place) set
                 to offsets into the header, beyond the end, duplicated, or special values
  pickle_ops     a legacy file whose pickle (a real fixture's) has opcodes inserted, deleted or
                 replaced: dangerous globals, BUILD/REDUCE/NEWOBJ on stand-ins, huge LONGs, memo
                 reference floods, sets, persistent ids
  nifti_header   NIfTI-1 header fields (dim, datatype, bitpix, vox_offset, scl_*, extension sizes)
  nrrd_header    NRRD fields (sizes, type, encoding, byte/line skip, data file -> outside / FIFO /
                 device / symlink)
  tiff_tags      TIFF tags (width, length, strips, samples, bits) and OME-XML file references
  dicom_elements Rows, Columns, NumberOfFrames, BitsAllocated, transfer syntax, pixel data length,
                 symlinks and FIFOs in the series folder
  metaimage_header  MetaImage (.mhd/.mha, read by ITK in C++) fields: DimSize, NDims, ElementType,
                 channels, HeaderSize, compression, ElementDataFile -> outside / LIST / pattern / FIFO

Every case runs in its own child process with an address-space cap (``--mem-mb``) and a timeout
(``stress/isolate.py``); ``.mla`` cases are opened (metadata, levels), described by ``mlarray info``,
read whole when affordable and shown by the napari reader's first frame; converter inputs go through
``mlarray convert``. A case fails when the child crashes or hangs, raises something other than an
MLArrayError (or the CLI prints a traceback), prints raw control characters, or writes an output
holding bytes of a file outside the input's folder. Mutated files that are still valid may read fine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickletools
import random
import shutil
import struct
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if not __package__:  # run as a script (python stress/x.py): the repository root holds the stress package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress import hostile  # noqa: E402
from stress._common import REPO, make_base_files, read_meta_json, write_meta_json  # noqa: E402
from stress.isolate import BAD, run_isolated  # noqa: E402

CLASSES = ["json_field", "frame_header", "chunk_index", "pickle_ops", "nifti_header", "nrrd_header", "tiff_tags",
           "dicom_elements", "metaimage_header"]
MLA_OPS = ("open", "info", "napari")
LEGACY = REPO / "tests" / "data" / "legacy"


# ----------------------------------------------------------------------------- json_field

def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            yield from _paths(v, prefix + (i,))


def _weird(rng: random.Random):
    return rng.choice([None, True, -1, 0, 2**31, 2**63, -(2**63), 10**300, 1e308, -1e-308, "", "x" * 100_000,
                       "\x1b]0;PWNED\x07\x00\u202e", [], {}, [[[]]], {"a": {"b": {}}}, [1, "a", None], "NaN",
                       list(range(1000)), {str(i): i for i in range(1000)}])


def mutate_json(base: dict, rng: random.Random, d: Path) -> str:
    doc = read_meta_json(base["path"])
    path = rng.choice(list(_paths(doc))[1:] or [("extra",)])
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    what = rng.random()
    if what < 0.35:
        parent[key] = _weird(rng)
        desc = f"{'/'.join(map(str, path))} = {str(parent[key])[:40]!r}"
    elif what < 0.45:
        del parent[key]
        desc = f"delete {'/'.join(map(str, path))}"
    elif what < 0.75 and isinstance(parent[key], (list, dict)) and parent[key]:
        n = rng.choice([10, 1000, 100_000, 1_100_000, 5_000_000])
        v = parent[key]
        parent[key] = (v * (n // len(v) + 1))[:n] if isinstance(v, list) else {f"k{i}": i for i in range(n)}
        desc = f"{'/'.join(map(str, path))} x{n}"
    else:
        special = rng.choice(["boxes", "classes", "levels", "extra", "deep"])
        n = rng.choice([1, 65, 100_001, 1_000_001, 4_000_001])
        if special == "boxes":
            doc["bbox"] = {"bboxes": [[[0, 1]] * rng.choice([1, 2, 3])] * n}
        elif special == "classes":
            doc["is_seg"], doc["classes"] = True, [{"id": i, "name": "c"} for i in range(min(n, 2_000_000))]
        elif special == "levels":
            doc["pyramid"] = {"levels": [{"shape": [1], "scale": [1.0], "offset": 16, "nbytes": 1}] * min(n, 200_000)}
        elif special == "extra":
            doc["extra"] = {f"k{i}": None for i in range(n)}
        else:
            n = rng.choice([63, 64, 65, 1000, 100_000])
            text = json.dumps(doc)[:-1] + ',"extra":{"d":' + "[" * n + "]" * n + "}}"
            write_meta_json(base["path"], text)
            return f"nesting {n}"
        desc = f"{special} x{n}"
    write_meta_json(base["path"], json.dumps(doc))
    return desc


# ----------------------------------------------------------------------------- frame_header / chunk_index

def mutate_frame_header(base: dict, rng: random.Random, d: Path) -> str:
    data = bytearray(Path(base["path"]).read_bytes())
    off = base["regions"]["base_offset"]
    lo, hi = base["regions"]["header"]
    ints = [i for i in range(lo, hi - 9) if data[i] in (0xD2, 0xD3, 0xCE, 0xCF)]
    i = rng.choice(ints)
    width = {0xD2: 4, 0xCE: 4, 0xD3: 8, 0xCF: 8}[data[i]]
    signed = data[i] in (0xD2, 0xD3)
    size = len(data) - off
    val = rng.choice([0, 1, -1, 2**31 - 1, 2**32 - 1, 2**62, size, size + 1, size - 1, 16, 47, rng.randrange(1, 10**7)])
    lim = 2 ** (8 * width - (1 if signed else 0))
    val = min(max(val, -lim if signed else 0), lim - 1)
    data[i + 1:i + 1 + width] = val.to_bytes(width, "big", signed=signed)
    Path(base["path"]).write_bytes(bytes(data))
    return f"frame int{8 * width} at {i - off} = {val}"


def mutate_chunk_index(base: dict, rng: random.Random, d: Path) -> str:
    import blosc2
    import numpy as np

    data = bytearray(Path(base["path"]).read_bytes())
    lo, hi = base["regions"]["index"]
    old = bytes(data[lo:hi])
    try:
        offs = np.frombuffer(blosc2.decompress(old), "<i8").copy()
    except Exception:
        return mutate_frame_header(base, rng, d)
    if not len(offs):
        return mutate_frame_header(base, rng, d)
    j = rng.randrange(len(offs))
    header_len = struct.unpack(">i", data[base["regions"]["base_offset"] + 11:base["regions"]["base_offset"] + 15])[0]
    choice = rng.choice(["zero", "into_header", "end", "beyond", "dup", "neg", "special", "max"])
    offs[j] = {"zero": 0, "into_header": -header_len + 8, "end": hi - lo, "beyond": len(data) * 4,
               "dup": offs[(j + 1) % len(offs)], "neg": -1, "special": -(2**62), "max": 2**62}[choice]
    new = blosc2.compress2(offs.tobytes(), typesize=8, clevel=9)
    if len(new) > len(old):
        new = blosc2.compress2(offs.tobytes(), typesize=8, clevel=9, codec=blosc2.Codec.ZSTD)
    if len(new) > len(old):
        return mutate_frame_header(base, rng, d)
    data[lo:lo + len(new)] = new
    Path(base["path"]).write_bytes(bytes(data))
    return f"chunk index[{j}] = {choice}"


# ----------------------------------------------------------------------------- pickle_ops

_SNIPPETS = [
    b"cos\nsystem\n(X\x04\x00\x00\x00trueR", b"cbuiltins\neval\n(X\x01\x00\x00\x001tR",
    b"cmlarray.meta\nAxisLabelEnum\n}X\x08\x00\x00\x00__call__K\x01sb", b"cnumpy\ndtype\n)\x81",
    b"ccopyreg\n_reconstructor\n(cmlarray.meta\n_FrozenList\nc__builtin__\nlist\nNtR", b"\x8a\x80" + b"\xff" * 128,
    b"\x8b\x00\x10\x00\x00" + b"\x01" * 4096, b"\x8f(K\x01\x90", b"K\x01Q", b"\x82\x01",
    b"(]h\x00" + b"h\x00" * 50_000 + b"e",
    b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
    b"ccollections\nOrderedDict\n)R", b"\x80\x05", b"\x95" + struct.pack("<Q", 2**40), b"0" * 10, b"2", b"t" * 5,
]


def mutate_pickle(rng: random.Random, d: Path) -> tuple[str, str]:
    import blosc2

    fixtures = sorted(p for p in LEGACY.glob("*.mla") if p.name != "malicious.mla")
    src = rng.choice(fixtures)
    store = blosc2.open(str(src))  # vlmeta dies with its frame: keep the store alive
    raw = gzip.decompress(store.schunk.vlmeta["mlarray"])
    ops = [pos for _, _, pos in pickletools.genops(raw)]
    i = rng.randrange(1, len(ops) - 1)
    what = rng.choice(["insert", "insert", "delete", "replace", "truncate", "memo"])
    if what == "insert":
        body = raw[:ops[i]] + rng.choice(_SNIPPETS) + raw[ops[i]:]
    elif what == "delete":
        body = raw[:ops[i]] + raw[ops[i + 1]:]
    elif what == "replace":
        body = raw[:ops[i]] + rng.choice(_SNIPPETS) + raw[ops[i + 1]:]
    elif what == "truncate":
        body = raw[:ops[i]]
    else:
        body = raw[:ops[i]] + b"h" + bytes([rng.randrange(256)]) + raw[ops[i]:]
    dst = d / f"legacy_{src.stem}.mla"
    hostile.legacy_file(dst, gzip.compress(body))
    return str(dst), f"{src.name}: {what} at op {i}"


# ----------------------------------------------------------------------------- converter inputs

def mutate_nifti(rng: random.Random, d: Path) -> tuple[str, str]:
    import nibabel as nib
    import numpy as np

    img = nib.Nifti1Image(np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4), np.eye(4))
    raw = bytearray(img.header.binaryblock + b"\x00" * 4 + img.dataobj.tobytes(order="F"))
    field, fmt, pos = rng.choice([("dim", "<h", 40 + 2 * rng.randrange(8)), ("datatype", "<h", 70),
                                  ("bitpix", "<h", 72), ("vox_offset", "<f", 108), ("scl_slope", "<f", 112),
                                  ("pixdim", "<f", 76 + 4 * rng.randrange(8)),
                                  ("srow", "<f", 280 + 4 * rng.randrange(12)), ("extension", "<b", 348),
                                  ("sizeof_hdr", "<i", 0)])
    val = rng.choice({"<h": [0, -1, 7, 8, 32767, -32768, 2, 4, 16, 64, 2048],
                      "<f": [0.0, -1.0, 1e30, float("nan"), float("inf"), 352.0, 2.0**31, 1e-30],
                      "<b": [1], "<i": [0, 540, -1, 0x5C010000]}[fmt])
    raw[pos:pos + struct.calcsize(fmt)] = struct.pack(fmt, val)
    if field == "extension":  # an extension header with a lying size
        raw[352:352] = struct.pack("<ii", rng.choice([8, 16, 2**30, -8, 7]), 4)
    gz = rng.random() < 0.7
    p = d / ("m.nii.gz" if gz else "m.nii")
    p.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    return str(p), f"nifti {field} = {val}"


def mutate_nrrd(rng: random.Random, d: Path, secret: Path) -> tuple[str, str]:
    import numpy as np

    data = np.arange(4 * 5 * 6, dtype=np.int16)
    fields = {"type": "short", "dimension": "3", "sizes": "4 5 6", "endian": "little", "encoding": "raw"}
    key = rng.choice(["type", "dimension", "sizes", "endian", "encoding", "data file", "byte skip", "line skip",
                      "space directions", "kinds"])
    val = rng.choice({"type": ["double", "uchar", "block", "int64", "nonsense"],
                      "dimension": ["0", "1", "16", "-1", "99999999"],
                      "sizes": ["4 5", "100000 100000 100000", "0 0 0", "-4 5 6", "4 5 6 7", "1e9 1 1"],
                      "endian": ["big", "middle"], "encoding": ["gzip", "bzip2", "hex", "ascii", "zstd"],
                      "data file": [str(secret), "../" + secret.parent.name + "/" + secret.name, "/dev/zero",
                                    "pipe.raw", "link.raw", "LIST", "nothing.raw", "a.raw"],
                      "byte skip": ["-1", "99999999999", "-5"], "line skip": ["99999999", "-1"],
                      "space directions": ["(1,0,0) (0,1,0)", "none none none", "(nan,0,0) (0,1,0) (0,0,1)"],
                      "kinds": ["domain", "RGB-color domain domain"]}[key])
    fields[key] = val
    detached = key == "data file"
    (d / "a.raw").write_bytes(data.tobytes())
    if val == "pipe.raw":
        os.mkfifo(d / "pipe.raw")
    if val == "link.raw":
        (d / "link.raw").symlink_to(secret)
    head = "NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "\n"
    p = d / ("m.nhdr" if detached else "m.nrrd")
    p.write_bytes(head.encode() + (b"" if detached else data.tobytes()))
    return str(p), f"nrrd {key}: {val}"


def mutate_metaimage(rng: random.Random, d: Path, secret: Path) -> tuple[str, str]:
    import zlib

    import numpy as np

    data = np.arange(4 * 5 * 6, dtype=np.int16).tobytes()
    fields = {"ObjectType": "Image", "NDims": "3", "DimSize": "4 5 6", "ElementType": "MET_SHORT",
              "ElementDataFile": "a.raw"}
    key = rng.choice(["NDims", "DimSize", "ElementType", "ElementNumberOfChannels", "HeaderSize",
                      "CompressedData", "ElementDataFile", "ElementDataFile", "ElementSpacing", "TransformMatrix"])
    val = rng.choice({"NDims": ["0", "1", "2", "16", "-1", "99999999"],
                      "DimSize": ["4 5", "100000 100000 100000", "0 0 0", "-4 5 6", "4 5 6 7", "4294967297 1 1"],
                      "ElementType": ["MET_DOUBLE", "MET_UCHAR", "MET_NONE", "MET_STRING", "nonsense"],
                      "ElementNumberOfChannels": ["0", "3", "-1", "100000"],
                      "HeaderSize": ["-1", "99999999999", "1000"],
                      "CompressedData": ["True", "bomb"],
                      "ElementDataFile": [str(secret), "../" + secret.parent.name + "/" + secret.name, "/dev/zero",
                                          "pipe.raw", "link.raw", "LIST\na.raw\n" + str(secret), "a%d.raw 0 99999999 1",
                                          "../" + secret.parent.name + "/secre%s.bin 1 1 1", "LOCAL", "nothing.raw"],
                      "ElementSpacing": ["0 0 0", "nan 1 1", "1e308 1 1"],
                      "TransformMatrix": ["0 0 0 0 0 0 0 0 0", "nan 0 0 0 1 0 0 0 1"]}[key])
    raw = data
    if key == "CompressedData":
        raw = zlib.compress(data if val == "True" else bytes(256 << 20), 9)  # 256 MiB of zeros: ~256 KB
        fields["CompressedDataSize"] = str(len(raw))
        val = "True"
    if val == "pipe.raw":
        os.mkfifo(d / "pipe.raw")
    if val == "link.raw":
        (d / "link.raw").symlink_to(secret)
    fields[key] = val
    fields["ElementDataFile"] = fields.pop("ElementDataFile")  # must come last
    (d / "a.raw").write_bytes(raw)
    local = fields["ElementDataFile"] == "LOCAL"
    p = d / ("m.mha" if local else "m.mhd")
    p.write_bytes("".join(f"{k} = {v}\n" for k, v in fields.items()).encode() + (raw if local else b""))
    return str(p), f"metaimage {key}: {val[:40]}"


def mutate_tiff(rng: random.Random, d: Path) -> tuple[str, str]:
    how = rng.choice(["declared", "ome_dotdot", "ome_absolute", "ome_symlink", "ome_fifo", "tag"])
    if how == "declared":
        c = hostile.tiff_declared_huge(d, width=rng.choice([1, 2**16, 2**20, 2**31 - 1]),
                                       length=rng.choice([1, 2**16, 2**20, 2**31 - 1]))
        return c.path, f"tiff declared {how}"
    if how.startswith("ome_"):
        c = hostile.ome_outside_ref(d, how[4:])
        return c.path, f"tiff {how}"
    import numpy as np
    import tifffile

    p = d / "t.tif"
    tifffile.imwrite(p, np.arange(64 * 64, dtype=np.uint16).reshape(64, 64), rowsperstrip=8)
    data = bytearray(p.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[ifd:ifd + 2])[0]
    e = ifd + 2 + 12 * rng.randrange(n)
    data[e + 8:e + 12] = struct.pack("<I", rng.choice([0, 1, 2**16, 2**31 - 1, 2**32 - 1, len(data), len(data) + 1]))
    p.write_bytes(bytes(data))
    return str(p), f"tiff tag {struct.unpack('<H', data[e:e + 2])[0]} value"


def mutate_dicom(rng: random.Random, d: Path, secret_dir: Path) -> tuple[str, str]:
    series = d / "series"
    series.mkdir()
    n = 3
    what = rng.choice(["Rows", "Columns", "NumberOfFrames", "BitsAllocated", "SamplesPerPixel", "deflate",
                       "pixels_short", "symlink", "fifo", "mismatch", "position"])
    for z in range(n):
        kw = {}
        rows = cols = 8
        if what == "mismatch" and z == 2:
            rows = 16
        hostile._dicom_slice(series / f"s{z}.dcm", rows, cols, float(z), deflate=(what == "deflate"), **kw)
    import pydicom

    p = series / "s1.dcm"
    ds = pydicom.dcmread(p)
    val = None
    if what in ("Rows", "Columns", "NumberOfFrames", "BitsAllocated", "SamplesPerPixel"):
        val = rng.choice([0, 1, 3, 7, 65535, 2**16 - 1])
        setattr(ds, what, val)
        ds.save_as(p, enforce_file_format=True)
    elif what == "pixels_short":
        ds.PixelData = ds.PixelData[:rng.randrange(len(ds.PixelData))]
        ds.save_as(p, enforce_file_format=True)
    elif what == "position":
        ds.ImagePositionPatient = rng.choice([[0, 0, 0], [1e308, 0, 0], ["nan", 0, 0]])
        ds.save_as(p, enforce_file_format=True)
    elif what == "symlink":
        (series / "s9.dcm").symlink_to(secret_dir / "other.dcm")
    elif what == "fifo":
        os.mkfifo(series / "s9.dcm")
    return str(series), f"dicom {what} {'' if val is None else val}"


# ----------------------------------------------------------------------------- driver

def make_case(i: int, seed: int, work: Path, bases: list, secret: Path) -> dict:
    rng = random.Random(f"{seed}:{i}")
    cls = CLASSES[i % len(CLASSES)]
    d = work / f"case{i:06d}"
    d.mkdir(parents=True, exist_ok=True)
    ops = ("convert",)
    if cls in ("json_field", "frame_header", "chunk_index"):
        base = dict(rng.choice(bases))
        p = d / Path(base["path"]).name
        shutil.copy(base["path"], p)
        base["path"] = str(p)
        desc = {"json_field": mutate_json, "frame_header": mutate_frame_header,
                "chunk_index": mutate_chunk_index}[cls](base, rng, d)
        path, ops = str(p), MLA_OPS
    elif cls == "pickle_ops":
        path, desc = mutate_pickle(rng, d)
        ops = MLA_OPS
    elif cls == "nifti_header":
        path, desc = mutate_nifti(rng, d)
    elif cls == "nrrd_header":
        path, desc = mutate_nrrd(rng, d, secret)
    elif cls == "tiff_tags":
        path, desc = mutate_tiff(rng, d)
    elif cls == "metaimage_header":
        path, desc = mutate_metaimage(rng, d, secret)
    else:
        path, desc = mutate_dicom(rng, d, secret.parent)
    return {"id": i, "cls": cls, "path": path, "desc": desc, "ops": ops, "dir": str(d)}


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fuzz-struct-"))
    private = work / "private"
    private.mkdir()
    secret = private / "secret.bin"
    secret.write_bytes(hostile.SECRET)
    hostile._dicom_slice(private / "other.dcm", 8, 8, 9.0, PatientName="OTHER^PATIENT")
    bases = make_base_files(work / "bases")
    ids = [args.replay] if args.replay is not None else range(args.cases)
    results, by_class, peaks = [], defaultdict(Counter), defaultdict(list)
    t0 = time.time()

    def one(i):
        if getattr(args, "max_seconds", 0) and time.time() - t0 > args.max_seconds:
            return None  # the wall-time budget is spent: cases not started are not counted
        try:
            case = make_case(i, args.seed, work / "cases", bases, secret)
        except Exception as exc:  # noqa: BLE001 - a generator bug is not a finding; report it
            return {"id": i, "cls": CLASSES[i % len(CLASSES)], "verdict": "generator_error", "why": repr(exc)}
        res = run_isolated(case["path"], case["ops"], "any", timeout=args.timeout, mem_mb=args.mem_mb)
        out = {**case, "verdict": res["verdict"], "why": res["why"], "peak_mb": res["peak_mb"],
               "seconds": res["seconds"],
               "errors": sorted({r.get("type") for r in (res["ops"] or {}).values() if not r.get("ok")} - {None})}
        if args.replay is None and res["verdict"] not in BAD:
            shutil.rmtree(case["dir"], ignore_errors=True)
        return out

    with ThreadPoolExecutor(max(1, args.jobs)) as ex:
        for n, r in enumerate(ex.map(one, ids), 1):
            if r is None:
                continue
            results.append(r)
            by_class[r["cls"]][r["verdict"]] += 1
            if r.get("peak_mb") is not None:
                peaks[r["cls"]].append(r["peak_mb"])
            if r["verdict"] in BAD or r["verdict"] == "generator_error" or args.replay is not None:
                print(f"case {r['id']} [{r['cls']}] {r.get('desc', '')}: {r['verdict']} {r['why'][:300]}", flush=True)
            if n % 50 == 0:
                print(f"{n}/{len(ids)} cases, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    summary = {
        "cases": len(results), "seconds": round(time.time() - t0), "seed": args.seed, "mem_mb": args.mem_mb,
        "verdicts": dict(Counter(r["verdict"] for r in results)),
        "by_class": {c: dict(v) for c, v in by_class.items()},
        "peak_mb": {c: {"median": sorted(v)[len(v) // 2], "max": max(v)} for c, v in peaks.items() if v},
        "error_types": dict(Counter(t for r in results for t in r.get("errors", []))),
        "findings": [r for r in results if r["verdict"] in BAD or r["verdict"] == "generator_error"],
    }
    if args.replay is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"files kept in {work}")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--mem-mb", type=int, default=2048)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--replay", type=int, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--max-seconds", type=float, default=0, help="stop starting cases after this wall time (0: none)")
    args = ap.parse_args()
    summary = run(args)
    text = json.dumps(summary, indent=1, default=str)
    if args.json:
        Path(args.json).write_text(text)
    print(json.dumps({k: v for k, v in summary.items() if k != "findings"}, indent=1))
    print(f"{len(summary['findings'])} finding(s)")
    sys.exit(1 if summary["findings"] else 0)


if __name__ == "__main__":
    main()
