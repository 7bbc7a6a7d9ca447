"""Checksums: corrupted compressed data is reported, never returned as silent garbage."""

import json
import time

import blosc2
import numpy as np
import pytest

import mlarray
from mlarray import CorruptFileError, MLArray
from mlarray._file import integrity as _integrity
from stress._common import base_offset_of, drop_checksums, frame_regions, open_base


def _image(tmp_path, shape=(40, 300, 280), name="ct.mla", **kw):
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 100, shape).astype(np.int16)
    p = tmp_path / name
    MLArray(arr, **kw).save(p)
    return p, arr


def _flip_in_chunk(path, chunk=3, offset=200):
    """Flip one byte inside compressed chunk ``chunk`` of the base frame (which sits behind the levels)."""
    store = open_base(path)
    raw = store.schunk.get_chunk(chunk)
    data = bytearray(path.read_bytes())
    base = base_offset_of(path)
    assert base > 16  # the test image has a pyramid: level frames lie between the header and the base
    pos = bytes(data).find(raw, base)
    assert pos > base
    data[pos + min(offset, len(raw) - 1)] ^= 0x10
    path.write_bytes(bytes(data))


def test_save_records_checksums(tmp_path):
    p, _ = _image(tmp_path)
    store = open_base(p)
    doc = json.loads(store.vlmeta[_integrity.KEY])
    assert doc["algorithm"] == "crc32" and doc["nchunks"] == store.schunk.nchunks
    levels = MLArray.open(p).meta.pyramid.levels
    assert levels and set(doc["levels"]) == {str(k) for k in range(1, len(levels) + 1)}
    for k, lv in enumerate(levels, start=1):  # per-chunk CRCs of each level frame, at its offset
        frame = blosc2.open(str(p), mode="r", offset=lv["offset"])
        assert doc["levels"][str(k)] == _integrity.array_checksums(frame)


def test_flipped_chunk_byte_is_detected_everywhere(tmp_path):
    # regression: before checksums, such a flip decoded to different voxels without any error
    p, arr = _image(tmp_path)
    _flip_in_chunk(p)
    with pytest.raises(CorruptFileError, match="ct.mla.*checksum"):
        MLArray.load(p)
    with pytest.raises(CorruptFileError, match="checksum"):
        MLArray.open(p, verify=True)
    img = MLArray.open(p)  # lazy: untouched chunks still read
    with pytest.raises(CorruptFileError, match="chunk 3"):
        img[...]
    errors = [x for x in mlarray.validate(p) if x.severity == "error"]
    assert errors and "checksum" in errors[0].message
    raw = MLArray.open(p, verify=False)[...]  # opting out returns what Blosc2 decodes
    assert raw.shape == arr.shape


def test_lazy_verification_checks_only_touched_chunks(tmp_path):
    p, arr = _image(tmp_path)
    _flip_in_chunk(p, chunk=0)
    img = MLArray.open(p)
    far = tuple(slice(s - 2, s) for s in arr.shape)
    np.testing.assert_array_equal(img[far], arr[far])
    assert img._verifier.checked.sum() == 1


def test_corrupted_level_is_detected(tmp_path):
    # the level frames sit in front of the base frame; flip a byte of level 1's first chunk there
    p, _ = _image(tmp_path)
    good = MLArray.open(p).levels[1][...]
    lo, hi = frame_regions(p)["levels"][0]["chunk_spans"][0]
    data = bytearray(p.read_bytes())
    data[(lo + hi) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    img = MLArray.open(p)
    assert img[0:4, 0:4, 0:4].shape == (4, 4, 4)  # the base array is unaffected
    with pytest.raises(CorruptFileError, match="ct.mla.*chunk 0 of the pyramid level 1 is corrupted"):
        img.levels[1][0:4, 0:4, 0:4]
    errors = [x for x in mlarray.validate(p) if x.severity == "error"]
    assert errors and "level 1" in errors[0].message
    try:  # unverified, the flip decodes to other numbers or fails in Blosc2: still a CorruptFileError
        assert MLArray.open(p, verify=False).levels[1][...].shape == good.shape
    except CorruptFileError as exc:
        assert "ct.mla" in str(exc)


def test_region_writes_refresh_checksums(tmp_path):
    p, arr = _image(tmp_path)
    img = MLArray.open(p, mmap_mode="r+")
    img[0:5, 0:50, 0:50] = 7
    assert _integrity.KEY not in img._store.vlmeta  # dropped before chunks changed
    img.close()
    back = MLArray.open(p, verify=True)
    assert (back[0:5, 0:50, 0:50] == 7).all()
    assert back.levels[1][0, 0:5, 0:5].shape == (5, 5)  # the rebuilt levels verify against new checksums
    assert not [x for x in mlarray.validate(p) if x.severity == "error"]


def test_copy_on_write_reads_its_own_changes(tmp_path):
    p, arr = _image(tmp_path)
    img = MLArray.open(p, mmap_mode="c")
    img[0:2] = 1
    assert (img[0:3, 0:2, 0:2][0:2] == 1).all()


def test_file_without_checksums_reads_and_validate_warns(tmp_path):
    p, arr = _image(tmp_path)
    drop_checksums(p)  # as written before checksums existed
    np.testing.assert_array_equal(MLArray.load(p).to_numpy(), arr)
    assert any(x.field == "checksums" and x.severity == "warning" for x in mlarray.validate(p))


def test_damaged_checksum_entry_is_a_clear_error(tmp_path):
    p, _ = _image(tmp_path)
    store = open_base(p, mode="a")
    store.vlmeta[_integrity.KEY] = '{"algorithm": "crc32", "nchunks": 2, "chunks": "!!"}'
    del store
    with pytest.raises(CorruptFileError, match="checksum entry"):
        MLArray.open(p)


@pytest.mark.parametrize("key,expect", [
    ((slice(0, 1),), "first"), ((Ellipsis, 0), "all"), ((5, slice(None), -1), "some"), ((np.array([1]),), "all"),
])
def test_chunks_for_key(key, expect):
    shape, chunks = (10, 20, 30), (4, 8, 16)
    grid = (3, 3, 2)
    idx = list(_integrity.chunks_for_key(shape, chunks, grid, key))
    if expect == "all":
        assert len(idx) == 18 or key[0] is Ellipsis and len(idx) == 9
    elif expect == "first":
        assert idx == list(range(6))
    else:
        assert idx == [2 * 3 * 1 + 2 * j + 1 for j in range(3)]


def test_checksum_overhead_is_small(tmp_path):
    """Prints the measured cost; the figures in docs/reliability.md come from stress/checksum_overhead.py."""
    p, arr = _image(tmp_path, shape=(64, 256, 256))
    rng = np.random.default_rng(1)
    starts = [tuple(int(rng.integers(0, s - 32)) for s in arr.shape) for _ in range(200)]

    def patches(verify):
        img = MLArray.open(p, verify=verify)
        t = time.perf_counter()
        for s in starts:
            img[tuple(slice(a, a + 32) for a in s)]
        return time.perf_counter() - t

    patches(False)
    off, lazy = min(patches(False) for _ in range(3)), min(patches("lazy") for _ in range(3))
    print(f"200 random 32^3 patches: {off * 1e3:.0f} ms unverified, {lazy * 1e3:.0f} ms lazy-verified")
    assert lazy < off * 2 + 0.05
