"""The loader's open -> read path: reused verified opens (_open_cache), the direct read of basic keys
(_read_path), and the training save profile."""

import os

import numpy as np
import pytest

from mlarray import MLArray
from mlarray._data.read_path import plan
from mlarray._errors import CorruptFileError, MetadataError
from mlarray._file import open_cache as _open_cache


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    _open_cache.clear()
    yield
    _open_cache.clear()


def _trust_now(monkeypatch):
    """Let files written a moment ago be remembered (the racy-timestamp guard is tested separately)."""
    monkeypatch.setattr(_open_cache, "RACY_NS", 0)


def _volume(tmp_path, shape=(40, 70, 90), name="a.mla", **save):
    arr = (np.arange(np.prod(shape)) % 3001 - 1000).astype(np.int16).reshape(shape)
    p = tmp_path / name
    MLArray(arr).save(p, **save)
    return p, arr


KEYS = [
    (slice(3, 11), slice(5, 69), slice(0, 64)),
    (5,),
    (-1, slice(None), slice(10, 20)),
    (slice(None), 7),
    (Ellipsis, 3),
    (2, Ellipsis, slice(-5, None)),
    (slice(0, 40), slice(0, 70), slice(0, 90)),
    (np.int64(4), slice(1, 2), np.int32(-3)),
    slice(38, 100),
    (slice(2, 9, 3),),  # stepped: general path
    (slice(5, 5),),  # empty: general path
    (None, 1),  # new axis: general path
    ([1, 3],),  # fancy: general path
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_reads_equal_numpy_for_every_key(tmp_path, key):
    p, arr = _volume(tmp_path)
    with MLArray.open(p) as img:
        np.testing.assert_array_equal(img[key], arr[key])


def test_plan_is_none_for_keys_it_does_not_own():
    shape = (4, 5, 6)
    assert plan((slice(0, 4, 2),), shape) is None
    assert plan((None,), shape) is None
    assert plan(([0, 1],), shape) is None
    assert plan((True,), shape) is None
    assert plan((9,), shape) is None  # numpy's IndexError comes from the general path
    assert plan((0, 0, 0, 0), shape) is None
    assert plan((slice(3, 1),), shape) is None
    r = plan((1, slice(None), -2), shape)
    assert r.start == (1, 0, 4) and r.stop == (2, 5, 5) and r.shape == (5,)


def test_out_of_range_int_still_raises_index_error(tmp_path):
    p, _ = _volume(tmp_path)
    with MLArray.open(p) as img, pytest.raises(IndexError):
        img[40]


def test_an_old_file_is_opened_from_its_verified_record(tmp_path, monkeypatch):
    _trust_now(monkeypatch)
    p, arr = _volume(tmp_path)
    first = MLArray.open(p)
    first[0:8]
    assert _open_cache.lookup(str(p), _open_cache.file_identity(str(p))) is not None
    second = MLArray.open(p)
    assert second._verifier.state is first._verifier.state  # chunks checked once per process
    assert second._verifier.checked.sum() > 0
    assert second.meta == first.meta and second.meta is not first.meta
    second.meta.source["edited"] = 1  # an open's metadata is its own
    assert "edited" not in MLArray.open(p).meta.source
    np.testing.assert_array_equal(second[...], arr)


def test_a_fresh_file_is_not_remembered(tmp_path):
    p, _ = _volume(tmp_path)  # ctime is now: within RACY_NS of the check
    MLArray.open(p).close()
    assert _open_cache.lookup(str(p), _open_cache.file_identity(str(p))) is None


def test_a_file_changed_in_place_is_checked_again(tmp_path, monkeypatch):
    _trust_now(monkeypatch)
    p, arr = _volume(tmp_path)
    img = MLArray.open(p)
    np.testing.assert_array_equal(img[...], arr)  # every chunk verified and remembered
    data = bytearray(p.read_bytes())
    size = len(data)
    # damage a byte of compressed data near the end of the base frame's chunk area
    import blosc2

    from mlarray._file.container import base_offset

    store = blosc2.open(str(p), mode="r", offset=base_offset(str(p)))
    chunk = store.schunk.get_chunk(store.schunk.nchunks - 1)
    at = bytes(data).rfind(bytes(chunk))
    assert at > 0
    data[at + len(chunk) - 3] ^= 0xFF
    with open(p, "r+b") as fh:  # in place: same inode
        fh.write(data)
    st = os.stat(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a timestamp the check can tell apart
    assert os.path.getsize(p) == size
    with pytest.raises(CorruptFileError, match="checksum"):
        MLArray.open(p)[...]


def test_verify_true_and_writable_opens_do_not_reuse(tmp_path, monkeypatch):
    _trust_now(monkeypatch)
    p, arr = _volume(tmp_path)
    MLArray.open(p)[...]
    full = MLArray.open(p, verify=True)
    assert full._verifier.checked.all() and full._saved_meta_json is not None
    rw = MLArray.open(p, mmap_mode="r+")
    assert rw._saved_meta_json is not None  # the full path, which writers need
    rw.close()


def test_training_profile_is_smaller_and_has_no_pyramid(tmp_path):
    shape = (80, 300, 300)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    rng = np.random.default_rng(0)
    arr = (np.where(x ** 2 + y ** 2 < 0.8, 40.0, -1000.0) + rng.normal(0, 15, shape)).astype(np.int16)
    MLArray(arr).save(tmp_path / "d.mla")
    MLArray(arr).save(tmp_path / "t.mla", profile="training")
    d, t = MLArray.open(tmp_path / "d.mla"), MLArray.open(tmp_path / "t.mla")
    assert d.meta.pyramid.levels and not t.meta.pyramid.levels
    assert t.meta.blosc2.codec == "ZSTD" and t.meta.blosc2.clevel == 8
    assert os.path.getsize(tmp_path / "t.mla") < 0.9 * os.path.getsize(tmp_path / "d.mla")
    np.testing.assert_array_equal(t[...], arr)
    MLArray(arr).save(tmp_path / "tp.mla", profile="training", pyramid=True)
    assert MLArray.open(tmp_path / "tp.mla").meta.pyramid.levels


def test_training_profile_keeps_user_cparams_and_rejects_unknown_profiles(tmp_path):
    import blosc2

    arr = np.zeros((8, 16, 16), np.uint8)
    MLArray(arr, cparams={"codec": blosc2.Codec.LZ4, "clevel": 1}).save(tmp_path / "u.mla", profile="training")
    assert MLArray.open(tmp_path / "u.mla").meta.blosc2.codec == "LZ4"
    with pytest.raises(MetadataError, match="profile"):
        MLArray(arr).save(tmp_path / "x.mla", profile="fast")
