"""MLArray.open(url) against a real Range server on 127.0.0.1 (conftest.http_server): what an open and
a read cost in requests and bytes, checksums and limits, the cache, and every failure a server causes."""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mlarray
from mlarray import MLArray
from mlarray._errors import CorruptFileError, LimitExceededError, MLArrayError
from mlarray._remote.store import cache
from mlarray.remote import (
    RangeNotSupportedError,
    RemoteError,
    RemoteFileChangedError,
    RemoteForbiddenError,
    RemoteNotFoundError,
    RemoteTruncatedError,
    RemoteUnavailableError,
)

LEGACY = Path(__file__).parents[1] / "data" / "legacy"


def _noise(shape, seed=0, dtype=np.int16):
    # random values: chunks compress little, so bytes fetched say which chunks were fetched
    return np.random.default_rng(seed).integers(0, 3000, shape).astype(dtype)


@pytest.fixture
def ct(http_server, tmp_path):
    """A 64x256x256 int16 volume in 32x64x64 chunks (2x4x4 = 32 chunks), served over HTTP."""
    url, rec = http_server
    arr = _noise((64, 256, 256))
    MLArray(arr, spacing=[2.0, 0.8, 0.8], chunk_size=[32, 64, 64], block_size=[16, 32, 32]).save(tmp_path / "ct.mla")
    return f"{url}/ct.mla", rec, arr, tmp_path / "ct.mla"


def test_open_costs_at_most_three_requests_and_no_pixels(ct):
    url, rec, arr, path = ct
    img = MLArray.open(url)
    assert len(rec.requests) <= 3
    assert rec.nbytes < 0.05 * os.path.getsize(path)  # header, index, trailer: no chunk data
    assert img.shape == arr.shape and img.dtype == arr.dtype and img.spacing == [2.0, 0.8, 0.8]
    assert img.meta.to_mapping() == MLArray.open(path).meta.to_mapping()


def test_region_read_fetches_only_the_chunks_it_touches(ct):
    url, rec, arr, path = ct
    img = MLArray.open(url)
    rec.reset()
    out = img[10:20, 30:100, 70:120]  # chunks: z 0, y 0..1, x 1 -> 2 chunks
    np.testing.assert_array_equal(out, arr[10:20, 30:100, 70:120])
    local = MLArray.open(path)
    import blosc2

    store = blosc2.open(str(path), offset=mlarray._file.container.base_offset(str(path)))
    sizes = [len(store.schunk.get_chunk(i)) for i in range(store.schunk.nchunks)]
    touched = [0 * 16 + 0 * 4 + 1, 0 * 16 + 1 * 4 + 1]
    assert len(rec.requests) == len(touched)  # one request per chunk (the index came with the open)
    assert rec.nbytes <= sum(sizes[i] for i in touched) + 2 * 4096  # a read may run into the next chunk
    assert rec.nbytes < 0.1 * os.path.getsize(path)
    del local
    rec.reset()
    np.testing.assert_array_equal(img[12, 40:60, 80:90], arr[12, 40:60, 80:90])  # same chunks: from the cache
    assert rec.requests == []


def test_reads_match_local_for_every_key_kind(ct):
    url, rec, arr, _ = ct
    img = MLArray.open(url)
    for key in [(5,), (slice(None), 3), (Ellipsis, slice(10, 200, 7)), (slice(None, None, -1), 0, 0),
                (np.array([1, 5, 60]),), (-1, -1, -1)]:
        np.testing.assert_array_equal(img[key], arr[key])
    np.testing.assert_array_equal(np.asarray(img), arr)
    assert rec.max_in_flight > 1  # the chunks of a read are fetched with overlapping requests


def test_pyramid_levels_are_read_remotely(http_server, tmp_path):
    url, rec = http_server
    arr = _noise((1, 1024, 1024), dtype=np.uint8)
    MLArray(arr).save(tmp_path / "slide.mla", pyramid=True)
    local = MLArray.open(tmp_path / "slide.mla")
    img = MLArray.open(f"{url}/slide.mla")
    assert len(rec.requests) <= 3
    assert len(img.levels) == len(local.levels) > 1
    rec.reset()
    top = img.levels[-1]
    np.testing.assert_array_equal(top[...], local.levels[-1][...])
    assert rec.nbytes < 0.2 * os.path.getsize(tmp_path / "slide.mla")  # the coarse level only
    for lv_remote, lv_local in zip(img.levels, local.levels):
        np.testing.assert_array_equal(lv_remote[0, 100:300, 50:90], lv_local[0, 100:300, 50:90])


def test_a_damaged_chunk_fails_its_checksum_and_names_the_url(ct):
    url, rec, arr, path = ct
    import blosc2

    off = mlarray._file.container.base_offset(str(path))
    frame = blosc2.open(str(path), offset=off)
    chunk5 = frame.schunk.get_chunk(5)
    raw = bytearray(path.read_bytes())
    pos = raw.find(chunk5, off)
    raw[pos + len(chunk5) // 2] ^= 0x10  # a flipped bit inside chunk 5's compressed data
    path.write_bytes(bytes(raw))
    img = MLArray.open(url)
    np.testing.assert_array_equal(img[0:32, 0:64, 0:64], arr[0:32, 0:64, 0:64])  # chunk 0 is intact
    with pytest.raises(CorruptFileError, match="chunk 5 .*checksum") as e:
        img[0:32, 64:128, 64:128]
    assert url in str(e.value)
    with pytest.raises(CorruptFileError, match="chunk 5"):
        MLArray.open(url, verify=True)  # every chunk, at open
    np.testing.assert_array_equal(MLArray.open(url, verify=False)[0:32, 0:64, 0:64], arr[0:32, 0:64, 0:64])


def test_metadata_limits_apply(ct, monkeypatch):
    url, rec, arr, _ = ct
    monkeypatch.setenv("MLARRAY_MAX_META_BYTES", "100")
    with pytest.raises(LimitExceededError, match="max_meta_bytes"):
        MLArray.open(url)


def test_cache_is_bounded(ct, monkeypatch):
    url, rec, arr, _ = ct
    monkeypatch.setattr(cache, "max_bytes", 300_000)
    img = MLArray.open(url)
    np.testing.assert_array_equal(np.asarray(img), arr)
    assert 0 < cache.nbytes <= 300_000
    rec.reset()
    np.testing.assert_array_equal(np.asarray(img), arr)
    assert len(rec.requests) > 1  # what did not fit is fetched again


def test_published_package_files_open_from_a_url(http_server):
    url, rec = http_server
    for name in ("image3d.mla", "seg.mla", "metaonly.mla"):
        shutil.copy(LEGACY / name, Path(rec.root) / name)
        local, remote = MLArray.open(LEGACY / name), MLArray.open(f"{url}/{name}")
        assert remote.meta.to_mapping() == local.meta.to_mapping()
        if local.shape is not None:
            np.testing.assert_array_equal(np.asarray(remote), np.asarray(local))


def test_remote_files_are_read_only_and_pickle_as_their_url(ct):
    url, rec, arr, _ = ct
    with pytest.raises(MLArrayError, match="read-only"):
        MLArray.open(url, mmap_mode="r+")
    img = MLArray.open(url)
    with pytest.raises(MLArrayError, match="read-only"):
        img[0, 0, 0] = 1
    rec.reset()
    again = pickle.loads(pickle.dumps(img))
    assert again.filepath == url and len(rec.requests) <= 3
    np.testing.assert_array_equal(again[3, 4], arr[3, 4])


def test_not_found(http_server):
    url, rec = http_server
    with pytest.raises(RemoteNotFoundError, match="HTTP 404") as e:
        MLArray.open(f"{url}/missing.mla")
    assert f"{url}/missing.mla" in str(e.value) and isinstance(e.value, FileNotFoundError)


def test_forbidden(ct):
    url, rec, _, _ = ct
    rec.status["/ct.mla"] = 403
    with pytest.raises(RemoteForbiddenError, match="HTTP 403") as e:
        MLArray.open(url)
    assert url in str(e.value)


def test_server_without_range_support_is_refused_without_downloading_the_file(ct):
    url, rec, _, path = ct
    rec.no_range = True
    with pytest.raises(RangeNotSupportedError, match="Range") as e:
        MLArray.open(url)
    assert url in str(e.value)


def test_a_server_that_hides_the_file_size_is_refused_with_the_url(ct):
    url, rec, _, _ = ct
    rec.unknown_size = True
    with pytest.raises(RemoteError, match="does not tell the file's size") as e:
        MLArray.open(url)
    assert url in str(e.value)


def test_truncated_answers(ct):
    url, rec, _, _ = ct
    rec.truncate = True
    with pytest.raises(RemoteTruncatedError, match="truncated") as e:
        MLArray.open(url)
    assert url in str(e.value)
    assert len(rec.requests) == 4  # retried (MLARRAY_REMOTE_RETRIES=3) before giving up


def test_5xx_is_retried_then_reported(ct):
    url, rec, arr, _ = ct
    rec.fail_next = 2
    img = MLArray.open(url)  # two 503s, then the answer
    np.testing.assert_array_equal(img[1, 2], arr[1, 2])
    rec.fail_next = 100
    with pytest.raises(RemoteUnavailableError, match="HTTP 503") as e:
        img[40:50, 200:210]
    assert url in str(e.value)


def test_timeouts_are_retried(ct, monkeypatch):
    url, rec, arr, _ = ct
    monkeypatch.setenv("MLARRAY_REMOTE_TIMEOUT", "0.2")
    rec.delay = 0.5
    with pytest.raises(RemoteUnavailableError, match="Timeout"):
        MLArray.open(url)
    assert len(rec.requests) == 4


def test_latency_per_request(ct):
    url, rec, arr, _ = ct
    rec.delay = 0.03
    img = MLArray.open(url)
    assert len(rec.requests) <= 3
    rec.reset()
    np.testing.assert_array_equal(img[:, :128, :128], arr[:, :128, :128])  # 8 chunks, 2 neighbours at a time
    assert len(rec.requests) == 4 and rec.max_in_flight > 1  # the 4 requests overlap


def test_neighbouring_chunks_come_in_one_request(ct):
    url, rec, arr, path = ct
    img = MLArray.open(url)
    rec.reset()
    np.testing.assert_array_equal(img[5:20, 10:50, :], arr[5:20, 10:50, :])  # chunks 0..3, stored one after another
    assert len(rec.requests) == 1
    assert rec.nbytes < 4.2 / 32 * os.path.getsize(path)  # those 4 of the 32 chunks, not more
    rec.reset()
    np.testing.assert_array_equal(img[5:20, 10:50, 100:200], arr[5:20, 10:50, 100:200])
    assert rec.requests == []  # each chunk was kept on its own


def _replace(path: Path, arr) -> None:
    tmp = path.with_name("new.mla")
    MLArray(arr, chunk_size=[32, 64, 64], block_size=[16, 32, 32]).save(tmp)
    os.replace(tmp, path)


def test_a_file_changed_after_open_is_an_error(ct):
    url, rec, arr, path = ct
    img = MLArray.open(url)
    np.testing.assert_array_equal(img[0:32, 0:64, 0:64], arr[0:32, 0:64, 0:64])
    time.sleep(0.01)
    _replace(path, arr + 1)
    with pytest.raises(RemoteFileChangedError, match="changed on the server") as e:
        img[32:64, 128:256, 0:64]
    assert url in str(e.value)
    np.testing.assert_array_equal(img[0:32, 0:64, 0:64], arr[0:32, 0:64, 0:64])  # read before: still the old
    np.testing.assert_array_equal(MLArray.open(url)[32:64, 128:256, 0:64], arr[32:64, 128:256, 0:64] + 1)


def test_a_file_replaced_mid_read_never_mixes_versions(ct, monkeypatch):
    url, rec, arr, path = ct
    # one request per chunk: neighbours would otherwise come together, the whole 5 MB file in one answer
    monkeypatch.setattr("mlarray._remote.store.COALESCE_MAX", 0)
    img = MLArray.open(url)
    new = path.with_name("new.mla")
    MLArray(arr + 1, chunk_size=[32, 64, 64], block_size=[16, 32, 32]).save(new)
    rec.delay = 0.1  # 32 chunks, 8 at a time: the read spans 4 round trips
    result: dict = {}

    def read():
        try:
            result["data"] = np.asarray(img)
        except MLArrayError as exc:
            result["error"] = exc

    t = threading.Thread(target=read)
    t.start()
    deadline = time.monotonic() + 20
    while len(rec.requests) < 8 and time.monotonic() < deadline:  # the first wave is on its way
        time.sleep(0.005)
    os.replace(new, path)
    t.join(30)
    assert "data" not in result
    assert isinstance(result.get("error"), RemoteFileChangedError), result


def test_fsspec_urls(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    arr = _noise((16, 64, 64))
    MLArray(arr).save(tmp_path / "m.mla")
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/m.mla", (tmp_path / "m.mla").read_bytes())
    img = MLArray.open("memory://bucket/m.mla")
    np.testing.assert_array_equal(img[3:9, 10:50], arr[3:9, 10:50])
    with pytest.raises(RemoteNotFoundError):
        MLArray.open("memory://bucket/none.mla")
    assert isinstance(RemoteNotFoundError("u", "p"), RemoteError)


def test_run_length_chunks_pass_their_checksums(http_server, tmp_path):
    # chunks of one value live in the frame's index; their checksum is of C-Blosc2's rebuilt chunk
    url, rec = http_server
    lab = np.zeros((40, 96, 96), np.uint8)
    lab[10:20, 30:50, 40:70] = 1
    MLArray(lab, chunk_size=[20, 48, 48]).save(tmp_path / "seg.mla")
    np.testing.assert_array_equal(MLArray.open(f"{url}/seg.mla", verify=True).to_numpy(), lab)
    nan = np.full((8, 32, 32), np.nan, np.float32)
    nan[0, 0, 0] = 1
    MLArray(nan, chunk_size=[4, 32, 32]).save(tmp_path / "nan.mla")
    np.testing.assert_array_equal(MLArray.open(f"{url}/nan.mla", verify=True).to_numpy(), nan)


def test_signed_urls_with_a_query_open(ct):
    url, rec, arr, _ = ct
    img = MLArray.open(url + "?X-Amz-Signature=abc&X-Amz-Expires=60")
    np.testing.assert_array_equal(img[5, 6], arr[5, 6])
    with pytest.raises(MLArrayError, match="end in '.mla'"):
        MLArray.open(url[:-4] + ".nii?x=ct.mla")


def test_load_and_the_constructor_take_a_url(ct, tmp_path):
    url, rec, arr, path = ct
    for img in (MLArray.load(url), MLArray.load(url, compressed=False), MLArray(url)):
        assert img.filepath is None and img.spacing == [2.0, 0.8, 0.8]
        np.testing.assert_array_equal(img.to_numpy(), arr)
    img.save(tmp_path / "copy.mla")  # a downloaded copy
    np.testing.assert_array_equal(MLArray.open(tmp_path / "copy.mla").to_numpy(), arr)


def test_errors_pickle_with_their_url():
    for cls in (RemoteError, RemoteNotFoundError, RemoteForbiddenError, RangeNotSupportedError, RemoteTruncatedError,
                RemoteFileChangedError, RemoteUnavailableError):
        e = pickle.loads(pickle.dumps(cls("https://h/ct.mla", "went wrong")))
        assert type(e) is cls and e.url == "https://h/ct.mla" and str(e) == "https://h/ct.mla: went wrong"


def test_a_server_that_is_not_running_is_named_with_what_to_check(monkeypatch):
    """A trial user's stopped server gave 'cannot be reached (NewConnectionError ... refused)' and no remedy."""
    import socket

    monkeypatch.setenv("MLARRAY_REMOTE_BACKOFF", "0.01")
    monkeypatch.setenv("MLARRAY_REMOTE_RETRIES", "1")
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ct.mla"
    with pytest.raises(RemoteUnavailableError, match="server is running") as e:
        MLArray.open(url)
    assert url in str(e.value)
