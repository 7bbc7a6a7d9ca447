"""The optional cache folder of remote chunks (``MLArray.open(url, cache_dir=...)``, ``MLARRAY_REMOTE_CACHE_DIR``):
kept between processes, keyed by the file's version, bounded, safe with concurrent processes."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlarray.remote
from mlarray import MLArray
from mlarray._errors import MLArrayError

SRC = str(Path(mlarray.__file__).parents[1])


@pytest.fixture
def vol(http_server, tmp_path):
    """A 64x256x256 int16 volume of noise in 32x64x64 chunks (32 chunks), served over HTTP."""
    url, rec = http_server
    arr = np.random.default_rng(0).integers(0, 3000, (64, 256, 256)).astype(np.int16)
    path = tmp_path / "ct.mla"
    MLArray(arr, chunk_size=[32, 64, 64], block_size=[16, 32, 32]).save(path)
    return f"{url}/ct.mla", rec, arr, path


def _open_requests(url, rec) -> int:
    """Requests an open alone costs (header, index and trailer)."""
    mlarray.remote.clear_cache()
    rec.reset()
    MLArray.open(url)
    n = len(rec.requests)
    rec.reset()
    return n


_CHILD = """
import json, sys
import numpy as np
from mlarray import MLArray
img = MLArray.open(sys.argv[1])
a = img[int(sys.argv[2]):int(sys.argv[3]), 30:200, 70:180]
print(json.dumps({"sum": int(a.astype(np.int64).sum()), "shape": list(a.shape)}))
"""


def _read_in_fresh_process(url, z0, z1, cache_dir, extra_env=None) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC, "MLARRAY_REMOTE_CACHE_DIR": str(cache_dir), **(extra_env or {})}
    out = subprocess.run([sys.executable, "-c", _CHILD, url, str(z0), str(z1)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_fresh_process_reads_a_region_again_with_no_data_requests(vol, tmp_path):
    url, rec, arr, path = vol
    cache_dir = tmp_path / "cache"
    open_only = _open_requests(url, rec)
    img = MLArray.open(url, cache_dir=cache_dir)
    first = img[10:50, 30:200, 70:180]
    assert len(rec.requests) > open_only  # the chunks came over the network the first time
    rec.reset()
    # another process, the folder named by the environment variable instead of the argument
    got = _read_in_fresh_process(url, 10, 50, cache_dir)
    assert got == {"sum": int(first.astype(np.int64).sum()), "shape": [40, 170, 110]}
    assert got["sum"] == int(arr[10:50, 30:200, 70:180].astype(np.int64).sum())
    assert len(rec.requests) == open_only  # the open only: every chunk came from the folder
    assert rec.nbytes < 0.05 * os.path.getsize(path)


def test_a_file_changed_on_the_server_is_never_served_from_the_folder(vol, tmp_path):
    url, rec, arr, path = vol
    cache_dir = tmp_path / "cache"
    np.testing.assert_array_equal(MLArray.open(url, cache_dir=cache_dir)[0:32, 0:64, 0:64], arr[0:32, 0:64, 0:64])
    new = path.with_name("new.mla")
    MLArray(arr + 7, chunk_size=[32, 64, 64], block_size=[16, 32, 32]).save(new)
    os.replace(new, path)  # same size and layout, another version (ETag, Last-Modified)
    open_only = _open_requests(url, rec)
    mlarray.remote.clear_cache()
    rec.reset()
    got = MLArray.open(url, cache_dir=cache_dir)[0:32, 0:64, 0:64]
    np.testing.assert_array_equal(got, arr[0:32, 0:64, 0:64] + 7)
    assert len(rec.requests) > open_only  # fetched again, from the new version


def test_a_damaged_entry_is_fetched_again(vol, tmp_path):
    url, rec, arr, path = vol
    cache_dir = tmp_path / "cache"
    MLArray.open(url, cache_dir=cache_dir, verify=False)[0:32, 0:64, 0:64]
    entries = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert len(entries) == 1
    raw = bytearray(entries[0].read_bytes())
    raw[-100] ^= 0xFF  # a bit flipped on disk
    entries[0].write_bytes(bytes(raw))
    mlarray.remote.clear_cache()
    # verify=False skips the file's checksums: the entry's own CRC still catches the damage
    got = MLArray.open(url, cache_dir=cache_dir, verify=False)[0:32, 0:64, 0:64]
    np.testing.assert_array_equal(got, arr[0:32, 0:64, 0:64])
    assert entries[0].read_bytes() != bytes(raw)  # replaced by the chunk fetched again


def test_the_folder_is_bounded(vol, tmp_path, monkeypatch):
    url, rec, arr, path = vol
    cache_dir = tmp_path / "cache"
    chunk = os.path.getsize(path) // 32
    bound = 5 * chunk
    monkeypatch.setenv("MLARRAY_REMOTE_CACHE_DIR_BYTES", str(bound))
    img = MLArray.open(url, cache_dir=cache_dir)
    np.testing.assert_array_equal(np.asarray(img), arr)  # all 32 chunks pass through the folder
    on_disk = sum(p.stat().st_size for p in cache_dir.rglob("*") if p.is_file())
    assert 0 < on_disk <= bound


def test_concurrent_processes_share_the_folder(vol, tmp_path):
    url, rec, arr, path = vol
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": SRC, "MLARRAY_REMOTE_CACHE_DIR": str(cache_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, url, "0", "64"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    want = int(arr[0:64, 30:200, 70:180].astype(np.int64).sum())
    assert all(json.loads(o.strip().splitlines()[-1])["sum"] == want for o, _ in outs)
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.name.startswith(".tmp-")]  # every write completed by a rename
    rec.reset()
    assert _read_in_fresh_process(url, 0, 64, cache_dir)["sum"] == want


def test_workers_unpickle_the_same_folder(vol, tmp_path):
    url, rec, arr, path = vol
    cache_dir = tmp_path / "cache"
    img = pickle.loads(pickle.dumps(MLArray.open(url, cache_dir=cache_dir)))  # as a DataLoader worker gets it
    img[0:32, 0:64, 0:64]
    assert [p for p in cache_dir.rglob("*") if p.is_file()]


def test_an_unusable_folder_is_a_clear_error(vol, tmp_path):
    url, rec, arr, path = vol
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(MLArrayError, match="cache_dir=.*a_file/sub.*writable folder"):
        MLArray.open(url, cache_dir=blocker / "sub")
