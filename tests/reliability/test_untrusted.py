"""Files from strangers: clear errors, nothing executed, bounded memory."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import blosc2
import numpy as np
import pytest

import mlarray
from mlarray import CorruptFileError, MetadataError, MLArray, MLArrayError, UnsafeLegacyFileError

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy"


def _small(tmp_path, name="img.mla", shape=(300, 280)):
    arr = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    p = tmp_path / name
    MLArray(arr, spacing=(1.0, 1.0)).save(p)
    return p, arr


def _set_meta(p, edit):
    store = blosc2.open(str(p), mode="a")
    m = json.loads(store.vlmeta["mla.meta"])
    edit(m)
    store.vlmeta["mla.meta"] = json.dumps(m)


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


# --- forged pyramid levels (regression: found by stress/fuzz.py) ---------------------------------------
@pytest.mark.parametrize("forge,fragment", [
    (lambda: blosc2.zeros((2**16, 2**16), dtype=np.uint8, chunks=(4096, 4096)).to_cframe(), "metadata says"),
    (lambda: blosc2.asarray(np.zeros((150, 140), np.complex128)).to_cframe(), "metadata says"),
    (lambda: b"\x00" * 100, "cannot be read"),
])
def test_forged_level_is_refused_before_allocating(tmp_path, forge, fragment):
    # before: a level claiming 4 GiB was decoded and sliced (MemoryError / OOM) and a level of another
    # dtype was returned as if it were the image
    p, _ = _small(tmp_path)
    store = blosc2.open(str(p), mode="a")
    store.vlmeta["mla.level.1"] = forge()
    if "mla.checksums" in store.vlmeta:  # the forger rewrites the file without our checksums
        del store.vlmeta["mla.checksums"]
    del store
    img = MLArray.open(p)
    with pytest.raises(CorruptFileError, match=fragment):
        img.levels[1][0:2, 0:2]


def test_damaged_level_chunk_is_a_corrupt_file_error(tmp_path):
    # before: RuntimeError("Error while getting the buffer") escaped from LevelArray.__getitem__
    p, _ = _small(tmp_path, shape=(600, 600))
    store = blosc2.open(str(p), mode="a")
    lv = blosc2.ndarray_from_cframe(store.vlmeta["mla.level.1"])
    cf = bytearray(lv.to_cframe())
    raw = lv.schunk.get_chunk(0)
    pos = bytes(cf).find(raw)
    cf[pos + 16: pos + len(raw)] = bytes(len(raw) - 16)
    store.vlmeta["mla.level.1"] = bytes(cf)
    if "mla.checksums" in store.vlmeta:
        del store.vlmeta["mla.checksums"]
    del store
    img = MLArray.open(p)
    with pytest.raises(MLArrayError, match="img.mla"):
        img.levels[1][...]


def test_huge_declared_array_is_refused_by_load(tmp_path):
    # a well-formed file whose uninitialized array claims 4 TiB: load() used to try to allocate it
    p = tmp_path / "huge.mla"
    big = blosc2.uninit((2**20, 2**20), dtype=np.float32, urlpath=str(p), mode="w", chunks=(256, 256),
                        blocks=(32, 32), meta={"mla": {"version": 1}})
    big.vlmeta["mla.meta"] = json.dumps({"format_version": 1, "has_array": True,
                                         "spatial": {"shape": [2**20, 2**20]}})
    del big
    assert os.path.getsize(p) < 2**20
    img = MLArray.open(p)  # cheap: reads the header only
    assert img.shape == (2**20, 2**20)
    assert img[0:4, 0:4].shape == (4, 4)
    with pytest.raises(CorruptFileError, match=r"huge.mla: holds 4096.0 GiB .* MLArray.open"):
        MLArray.load(p)


def test_metadata_bomb_is_refused_without_memory_blow_up(tmp_path):
    """A vlmeta entry that decompresses to > 256 MiB (it is ~1 MiB on disk) is refused; run in a
    subprocess with a 1.5 GiB address-space cap so a regression cannot take the test runner down."""
    p, _ = _small(tmp_path)
    store = blosc2.open(str(p), mode="a")
    store.vlmeta["mla.meta"] = '{"extra":{"s":"' + "x" * (257 * 2**20) + '"}}'
    del store
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
