"""Files from strangers: clear errors, nothing executed, bounded memory."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import blosc2
import numpy as np
import pytest

import mlarray
from mlarray import CorruptFileError, MetadataError, MLArray, MLArrayError, UnsafeLegacyFileError
from stress._common import (
    MLA_MAGIC,
    assemble_file,
    base_offset_of,
    drop_checksums,
    frame_regions,
    read_meta_json,
    split_frames,
    write_meta_json,
)

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy"


def _small(tmp_path, name="img.mla", shape=(300, 280)):
    arr = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    p = tmp_path / name
    MLArray(arr, spacing=(1.0, 1.0)).save(p)
    return p, arr


def _set_meta(p, edit):
    m = read_meta_json(p)
    edit(m)
    write_meta_json(p, m)


# --- wrong JSON types (regression: found by stress/fuzz.py) --------------------------------------------
@pytest.mark.parametrize("field,value,fragment", [
    ("pyramid", {"levels": 7}, "pyramid.levels: must be a list"),      # was TypeError: 'int' is not iterable
    ("pyramid", {"levels": True}, "pyramid.levels: must be a list"),
    ("has_array", "false", "has_array: must be true or false"),        # was read as True
    ("has_array", {}, "has_array: must be true or false"),             # was read as False
    ("writer", [], "writer: must be a string"),                         # was accepted
    ("format_version", {}, "format_version: must be an integer"),      # was accepted
    ("spatial", {"direction": {}}, "spatial.direction: must be a matrix of numbers"),  # was TypeError
    ("spatial", {"direction": [1, "a"]}, "spatial.direction: must be a matrix of numbers"),  # was ValueError
    ("spatial", {"affine": [["x"]]}, "spatial.affine: must be a matrix of numbers"),  # was ValueError
])
def test_wrong_json_types_are_rejected(tmp_path, field, value, fragment):
    p, _ = _small(tmp_path)
    _set_meta(p, lambda m: m.__setitem__(field, value))
    with pytest.raises(CorruptFileError, match=f"img.mla.*{fragment}"):
        MLArray.open(p)
    with pytest.raises(MetadataError, match=fragment):
        mlarray.Meta.from_mapping({"format_version": 1, field: value})


def test_metadata_only_file_claiming_an_array(tmp_path):
    # regression (stress/fuzz.py, 10k run): a metadata-only file stores a (0,)-shaped array with chunks
    # (0,); with has_array forged to true, opening it raised a bare ZeroDivisionError in the checksum
    # verifier (chunk grid = shape // chunks)
    p = tmp_path / "img.mla"
    MLArray(meta=mlarray.Meta(extra={"label": 3})).save(p)
    _set_meta(p, lambda m: m.__setitem__("has_array", True))
    for read in (lambda: MLArray.open(p)[...], lambda: MLArray.load(p).to_numpy(),
                 lambda: MLArray.open(p, verify=True)):
        try:
            assert int(np.prod(read().shape)) == 0
        except MLArrayError as exc:
            assert "img.mla" in str(exc)


# --- forged pyramid levels (regression: found by stress/fuzz.py) ---------------------------------------
# Levels are frames in front of the base frame at offsets the metadata lists (docs/spec.md section 1).
# A forger can replace a level frame (rewriting the file) or make the metadata lie about it.
@pytest.mark.parametrize("forge,fragment", [
    (lambda: blosc2.zeros((2**16, 2**16), dtype=np.uint8, chunks=(4096, 4096)).to_cframe(), "metadata says"),
    (lambda: blosc2.asarray(np.zeros((150, 140), np.complex128)).to_cframe(), "metadata says"),
    (lambda: b"\x00" * 100, "cannot be read"),
], ids=["4GiB-frame", "other-dtype", "garbage"])
def test_forged_level_is_refused_before_allocating(tmp_path, forge, fragment):
    # before: a level claiming 4 GiB was decoded and sliced (MemoryError / OOM) and a level of another
    # dtype was returned as if it were the image
    p, _ = _small(tmp_path)
    base, frames = split_frames(p)
    assert len(frames) == 1
    assemble_file(p, base, [forge()])  # header + forged level + the original base; metadata offsets updated
    drop_checksums(p)  # the forger writes no checksums for its level: the shape/dtype check must catch it
    img = MLArray.open(p)
    with pytest.raises(CorruptFileError, match=f"img.mla.*({fragment})"):
        img.levels[1][0:2, 0:2]


@pytest.mark.parametrize("field,lie,fragment", [
    ("shape", [2**16, 2**16], "metadata says"),         # a level declaring 16 GiB of float32... of uint8
    ("shape", [2**40, 2**40], "metadata says"),
    ("shape", [151, 140], "metadata says"),
    # offsets outside the level area (header .. base frame) are refused before Blosc2 sees them
    ("offset", "base", "outside the level area"),       # points at the base frame (a real frame, wrong shape)
    ("offset", 0, "outside the level area"),            # the MLArray header
    ("offset", 8, "outside the level area"),            # mid-header
    ("offset", "mid", "outside the level area|cannot be read"),  # inside the level frame
    ("offset", "eof", "outside the level area"),
    ("offset", 2**63 - 1, "outside the level area"),
    ("nbytes", 10**12, "outside the level area"),
])
def test_level_metadata_lies_are_refused(tmp_path, field, lie, fragment):
    p, _ = _small(tmp_path)
    lv0 = read_meta_json(p)["pyramid"]["levels"][0]
    if isinstance(lie, str):
        lie = {"base": base_offset_of(p), "mid": lv0["offset"] + lv0["nbytes"] // 2, "eof": os.path.getsize(p)}[lie]
    _set_meta(p, lambda m: m["pyramid"]["levels"][0].__setitem__(field, lie))
    img = MLArray.open(p)  # levels are opened lazily: the base array still works
    assert img[0:2, 0:2].shape == (2, 2)
    with pytest.raises(CorruptFileError, match=f"img.mla.*({fragment})"):
        img.levels[1][0:2, 0:2]
    errors = [x for x in mlarray.validate(p) if x.severity == "error"]
    assert errors and errors[0].field == "pyramid.levels[0]"


def test_damaged_level_chunk_is_a_corrupt_file_error(tmp_path):
    # before: RuntimeError("Error while getting the buffer") escaped from LevelArray.__getitem__
    p, _ = _small(tmp_path, shape=(600, 600))
    lo, hi = frame_regions(p)["levels"][0]["chunk_spans"][0]
    data = bytearray(p.read_bytes())
    data[lo + 16:hi] = bytes(hi - lo - 16)  # keep the chunk header, zero its compressed payload
    p.write_bytes(bytes(data))
    drop_checksums(p)  # no checksum to catch it first: the decoder's error must be translated
    img = MLArray.open(p)
    with pytest.raises(MLArrayError, match="img.mla"):
        img.levels[1][...]


@pytest.mark.parametrize("layout", ["mla", "plain"])
def test_huge_declared_array_is_refused_by_load(tmp_path, layout):
    # a well-formed file whose uninitialized array claims 4 TiB: load() used to try to allocate it
    # (layout "mla": MLArray header + base frame; "plain": a bare frame at offset 0, as 0.0.x wrote)
    p = tmp_path / "huge.mla"
    frame = tmp_path / "frame.b2nd"
    big = blosc2.uninit((2**20, 2**20), dtype=np.float32, urlpath=str(frame), mode="w", chunks=(256, 256),
                        blocks=(32, 32), meta={"mla": {"version": 1}})
    big.vlmeta["mla.meta"] = json.dumps({"format_version": 1, "has_array": True,
                                         "spatial": {"shape": [2**20, 2**20]}})
    del big
    if layout == "mla":
        assemble_file(p, frame.read_bytes())
        frame.unlink()
    else:
        os.replace(frame, p)
    assert base_offset_of(p) == (16 if layout == "mla" else 0)
    assert os.path.getsize(p) < 2**20
    img = MLArray.open(p)  # cheap: reads the header only
    assert img.shape == (2**20, 2**20)
    assert img[0:4, 0:4].shape == (4, 4)
    with pytest.raises(CorruptFileError, match=r"huge.mla: loading the whole array needs 4,096.0 GiB, .* MLArray.open"):
        MLArray.load(p)


def test_metadata_bomb_is_refused_without_memory_blow_up(tmp_path):
    """A vlmeta entry that decompresses to > 256 MiB (it is ~1 MiB on disk) is refused; run in a
    subprocess with a 1.5 GiB address-space cap so a regression cannot take the test runner down."""
    p, _ = _small(tmp_path)
    write_meta_json(p, '{"extra":{"s":"' + "x" * (257 * 2**20) + '"}}')
    assert os.path.getsize(p) < 8 * 2**20
    code = ("import resource,sys; resource.setrlimit(resource.RLIMIT_AS,(1536*2**20,)*2)\n"
            "from mlarray import MLArray, MLArrayError\n"
            "try:\n    MLArray.open(sys.argv[1])\nexcept MLArrayError as e:\n    print('ERR', e)\n"
            "except MemoryError:\n    print('MEMORYERROR')\n")
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    print(out.stdout, out.stderr[-500:])
    assert out.returncode == 0
    assert out.stdout.startswith("ERR") and "img.mla" in out.stdout


def test_malicious_legacy_pickle_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    code = ("import sys\nfrom mlarray import MLArray, UnsafeLegacyFileError\n"
            "try:\n    MLArray.open(sys.argv[1])\nexcept UnsafeLegacyFileError as e:\n    print('REFUSED', e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code, str(LEGACY / "malicious.mla")], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path, env=env)
    assert out.stdout.startswith("REFUSED") and "malicious.mla" in out.stdout
    assert not marker.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(UnsafeLegacyFileError):
        MLArray.load(LEGACY / "malicious.mla")
    assert any(x.severity == "error" for x in mlarray.validate(LEGACY / "malicious.mla"))


@pytest.mark.parametrize("name", ["with space.mla", "ünïcødé 画像.mla", "quote'\"s.mla", "semi;colon $x `y`.mla",
                                  "-leading-dash.mla", "percent%s%n.mla", "new\nline.mla"])
def test_unusual_paths_round_trip(tmp_path, name):
    p, arr = _small(tmp_path, name=name)
    np.testing.assert_array_equal(MLArray.load(p).to_numpy(), arr)
    img = MLArray.open(p, mmap_mode="r+")
    img.meta.extra["k"] = name
    img.close()
    assert MLArray.open(p).meta.extra["k"] == name
    assert sorted(x.name for x in tmp_path.iterdir()) == [name]  # no temp files left over
    data = bytearray(p.read_bytes())
    p.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CorruptFileError) as exc:
        MLArray.open(p)
    assert name in str(exc.value)


def test_symlinks(tmp_path):
    p, arr = _small(tmp_path)
    link = tmp_path / "link.mla"
    link.symlink_to(p)
    np.testing.assert_array_equal(MLArray.open(link)[...], arr)
    dangling = tmp_path / "dangling.mla"
    dangling.symlink_to(tmp_path / "missing.mla")
    with pytest.raises(FileNotFoundError, match="dangling.mla"):
        MLArray.open(dangling)
    loop = tmp_path / "loop.mla"
    loop.symlink_to(loop)
    with pytest.raises((FileNotFoundError, MLArrayError)):
        MLArray.open(loop)
    d = tmp_path / "dir.mla"
    d.mkdir()
    with pytest.raises(FileNotFoundError):
        MLArray.open(d)
    # saving through a symlink replaces the link itself with a regular file (atomic rename semantics);
    # the link target keeps its old content
    MLArray(arr * 0).save(link)
    assert not link.is_symlink()
    np.testing.assert_array_equal(MLArray.load(p).to_numpy(), arr)


def test_non_mla_files_are_refused_clearly(tmp_path):
    for name, content in [("empty.mla", b""), ("text.mla", b"hello"), ("zip.mla", b"PK\x03\x04" + bytes(100)),
                          ("npy.mla", b"\x93NUMPY" + bytes(100))]:
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(CorruptFileError, match=name):
            MLArray.open(p)
    plain = tmp_path / "plain.mla"
    blosc2.asarray(np.zeros((4, 4)), urlpath=str(plain), mode="w")
    with pytest.raises(CorruptFileError, match="carries no MLArray metadata"):
        MLArray.open(plain)


def test_damaged_mlarray_header_is_refused_clearly(tmp_path):
    """The 16-byte header is checked in Python before any byte reaches C-Blosc2 (docs/spec.md 1, 6)."""
    good, _ = _small(tmp_path, name="good.mla")
    data = good.read_bytes()
    base = base_offset_of(good)
    cases = {
        "magic-only.mla": (MLA_MAGIC, "truncated inside the MLArray header"),
        "offset-past-end.mla": (MLA_MAGIC + struct.pack("<Q", len(data)) + data[16:], "outside"),
        "offset-into-header.mla": (MLA_MAGIC + struct.pack("<Q", 3) + data[16:], "outside"),
        "offset-not-a-frame.mla": (MLA_MAGIC + struct.pack("<Q", base + 100) + data[16:], "no Blosc2 frame"),
        "offset-at-level.mla": (MLA_MAGIC + struct.pack("<Q", 16) + data[16:], "metadata"),  # a level, not the base
        "text-mode-crlf.mla": (data.replace(b"\r\n", b"\n", 1), "not an MLArray file"),
        "cut-before-base.mla": (data[:base], "outside"),
    }
    for name, (content, fragment) in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(CorruptFileError, match=f"{name}.*{fragment}"):
            MLArray.open(p)
        assert any(x.severity == "error" for x in mlarray.validate(p)), name
    for shift in (-9, -3, -1, 1, 2, 3, 9):  # near misses of the base frame: some pass the Python check
        p = tmp_path / f"shift{shift}.mla"
        p.write_bytes(MLA_MAGIC + struct.pack("<Q", base + shift) + data[16:])
        with pytest.raises(CorruptFileError, match=f"shift{shift}.mla"):
            MLArray.open(p)


def test_header_error_names_the_problem_once(tmp_path):
    # base_offset's CorruptFileError is an OSError too; it used to be re-wrapped twice, naming the file 3x
    p = tmp_path / "cut.mla"
    p.write_bytes(MLA_MAGIC + b"\x10\x00")
    with pytest.raises(CorruptFileError) as exc:
        MLArray.open(p)
    assert str(exc.value) == f"{p}: is truncated inside the MLArray header"


@pytest.mark.parametrize("dtype,old,new", [
    (np.uint8, b"|u1", b"9u1"),    # fuzz 10k run after the metadata seal, case 4052: read as a 9-byte subarray
    (np.int16, b"<i2", b">i2"),    # same size, other byte order: every voxel silently byte-swapped
    (np.int16, b"<i2", b"<u2"),    # same size, other kind: negative values silently wrapped
])
def test_flipped_dtype_in_the_frame_header_is_caught(tmp_path, dtype, old, new):
    p = tmp_path / "dt.mla"
    MLArray((np.arange(24 * 40 * 36) % 100 - 50).astype(dtype).reshape(24, 40, 36)).save(p)
    lo, hi = frame_regions(p)["header"]
    data = bytearray(p.read_bytes())
    at = data.index(old, lo, hi)
    data[at:at + 3] = new
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="dt.mla: the array header says dtype") as exc:
        MLArray.open(p)
    assert f"but the metadata recorded {old.decode()} (damaged header)" in str(exc.value)
    with pytest.raises(CorruptFileError, match="dt.mla: the array header says dtype"):
        MLArray.load(p)
