"""In-place metadata writes never make the file shorter (a shorter file kills mmap readers with SIGBUS)."""

from __future__ import annotations

import os

import blosc2
import numpy as np
import pytest

from mlarray import MLArray, validate
from mlarray._file.container import base_offset
from mlarray._file.vlmeta_write import PAD_KEY, _Footprint, write_entries


@pytest.fixture
def mla_file(tmp_path):
    path = tmp_path / "edit.mla"
    MLArray(np.arange(32 * 64 * 64, dtype=np.uint16).reshape(32, 64, 64)).save(path)
    return str(path)


def _store(path):
    return blosc2.open(path, mode="a", offset=base_offset(path))


@pytest.mark.parametrize("value", ["x", "a" * 5000, '{"k": [1, 2, 3]}' * 40, bytes(range(256)) * 9, b""])
def test_footprint_is_what_the_file_grows_by(mla_file, value):
    store = _store(mla_file)
    before = os.path.getsize(mla_file)
    store.vlmeta["test.entry"] = value
    assert os.path.getsize(mla_file) - before == _Footprint()("test.entry", value)


class _Spy:
    """A store whose vlmeta records the file size after every single write."""

    def __init__(self, store, path):
        self._store, self.urlpath, self.sizes = store, path, []
        spy = self

        class VL:
            def __contains__(self, k):
                return k in store.vlmeta

            def __getitem__(self, k):
                return store.vlmeta[k]

            def __setitem__(self, k, v):
                store.vlmeta[k] = v
                spy.sizes.append(os.path.getsize(path))

            def __delitem__(self, k):
                del store.vlmeta[k]
                spy.sizes.append(os.path.getsize(path))

        self.vlmeta = VL()

    def __getattr__(self, name):  # everything but vlmeta is the real store's
        return getattr(self._store, name)


def test_no_single_write_of_a_mixed_update_shortens_the_file(mla_file):
    store = _store(mla_file)
    store.vlmeta["grow"] = "g"
    store.vlmeta["shrink"] = os.urandom(3000)  # incompressible: dropping it frees ~3 kB
    start = os.path.getsize(mla_file)
    spy = _Spy(store, mla_file)
    write_entries(spy, {"grow": os.urandom(500).hex(), "new": "n"}, deletes=["shrink"])
    assert spy.sizes and min(spy.sizes) >= start
    assert PAD_KEY in store.vlmeta and "shrink" not in store.vlmeta
    assert store.vlmeta["new"] == "n"


def test_metadata_edits_never_shorten_the_file(mla_file):
    sizes = [os.path.getsize(mla_file)]
    for text in ["a" * 6000, "b", os.urandom(2000).hex(), "", "c" * 10]:
        ml = MLArray.open(mla_file, mmap_mode="r+")
        ml.meta.extra = {"note": text}
        ml.close()
        sizes.append(os.path.getsize(mla_file))
    assert sizes == sorted(sizes), sizes
    # The filler grows only to the longest trailer the file has held.
    assert sizes[-1] - sizes[0] < 8000
    again = MLArray.open(mla_file, verify=True)
    assert again.meta.extra == {"note": "c" * 10}
    assert not [p for p in validate(mla_file) if p.severity == "error"]


def test_region_writes_drop_checksums_without_shortening_then_read_back(mla_file):
    before = os.path.getsize(mla_file)
    store = _store(mla_file)
    spy = _Spy(store, mla_file)
    from mlarray._file import integrity as _integrity

    _integrity.invalidate(spy, mla_file)  # what the first r+ region write does first
    assert "mla.checksums" not in store.vlmeta and min(spy.sizes) >= before
    del store, spy
    ml = MLArray.open(mla_file, mmap_mode="r+")
    ml[0:4] = 7
    ml.close()
    again = MLArray.open(mla_file, verify=True)
    assert int(again[0, 0, 0]) == 7 and int(again[5, 0, 1]) == 5 * 64 * 64 + 1
    assert not [p for p in validate(mla_file) if p.severity == "error"]
