"""Reads that would allocate more than the memory available are refused before allocating (issue 12,
item 2): ``to_numpy()``, ``np.asarray(img)``, ``img[...]``, pyramid levels, ``load``; regions still read."""

import numpy as np
import pytest

from mlarray import LimitExceededError, MLArray, limits
from stress import hostile
from stress.isolate import run_isolated


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    return hostile.huge_declared_array(tmp_path_factory.mktemp("huge")).path


@pytest.mark.parametrize("read", [
    lambda img: img.to_numpy(),
    lambda img: np.asarray(img),
    lambda img: img[...],
    lambda img: img[:, :],
    lambda img: img[0:2**19],
    lambda img: img[np.arange(2**18), :],
    lambda img: img.levels[0][...],
    lambda img: np.asarray(img.levels[0]),
], ids=["to_numpy", "asarray", "ellipsis", "slices", "half", "index-list", "level-getitem", "level-asarray"])
def test_reads_beyond_memory_are_refused_up_front(huge, read):
    img = MLArray.open(huge)
    with pytest.raises(LimitExceededError, match=r"huge.mla: .* GiB, more than the .* GiB of memory available "
                                                 r"\(max_read_bytes\); read a region instead") as info:
        read(img)
    assert info.value.limit == "max_read_bytes" and "MLARRAY_MAX_READ_BYTES=" in str(info.value)


def test_regions_of_a_huge_declared_array_still_read(huge):
    img = MLArray.open(huge)
    assert img[0:64, 0:64].shape == (64, 64)
    assert img[5, 100:200].shape == (100,)
    assert img.levels[0][0:8, 0:8].shape == (8, 8)


def test_the_issue_paths_in_a_capped_child(huge):
    """to_numpy / np.asarray / img[...] / the napari reader's first frame, under a 1 GiB address-space cap."""
    res = run_isolated(huge, ["open", "to_numpy", "asarray", "getitem", "napari"],
                       {"open": "ok", "*": "limit"}, mem_mb=1024, timeout=120)
    assert res["verdict"] == "ok", res
    assert res["peak_mb"] < 400


def test_max_read_bytes_set_explicitly(tmp_path, monkeypatch):
    p = tmp_path / "a.mla"
    MLArray(np.ones((64, 64, 64), np.float32)).save(p)  # 1 MiB
    img = MLArray.open(p)
    with limits(max_read_bytes=2**19):
        with pytest.raises(LimitExceededError, match="more than the 0.0 GiB of memory allowed"):
            img.to_numpy()
        assert img[0:8].shape == (8, 64, 64)  # 128 KiB: fine
        with pytest.raises(LimitExceededError):
            MLArray.load(p, compressed=False)
        kept = MLArray.load(p)  # compressed chunks in memory: 1 MiB of ones takes a few KB
        with pytest.raises(LimitExceededError):
            kept.to_numpy()
    monkeypatch.setenv("MLARRAY_MAX_READ_BYTES", str(2**19))
    with pytest.raises(LimitExceededError):
        np.asarray(img)
    with limits(max_read_bytes=0):  # switched off in code
        assert np.asarray(img).sum() == 64**3


def test_decompressed_arrays_are_not_checked_compressed_ones_are(tmp_path):
    """A numpy-backed MLArray is in memory already; a compressed one (MLArray(array) keeps its data
    Blosc2-compressed in memory) decompresses on to_numpy, which the limit guards like a file read."""
    p = tmp_path / "a.mla"
    MLArray(np.zeros((8, 8), np.uint8)).save(p)
    img = MLArray.load(p, compressed=False)
    with limits(max_read_bytes=1):
        assert img.to_numpy().shape == (8, 8) and img[...].shape == (8, 8)
        with pytest.raises(LimitExceededError, match="max_read_bytes"):
            MLArray(np.zeros((8, 8), np.uint8)).to_numpy()


def test_a_file_of_many_one_element_chunks_reads_in_bounded_memory(tmp_path):
    """Issue 12, item 6 (a million 1-element chunks at full size: stress/experiments.py, docs/reliability.md
    section 7); here 10,000 chunks: open, verify every chunk, read whole, describe, in a capped child."""
    case = hostile.many_chunks(tmp_path, n=10_000)
    res = run_isolated(case.path, ["open", "verify", "to_numpy", "info"], "ok", mem_mb=1024, timeout=120)
    assert res["verdict"] == "ok" and res["peak_mb"] < 300, res
