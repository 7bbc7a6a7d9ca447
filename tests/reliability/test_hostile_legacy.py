"""Crafted legacy (pickle) files (issue 12, items 2-4): limits enforced while unpickling, no BUILD on
anything but the reader's own containers, huge integers are a CorruptFileError, every failure an
MLArrayError."""

import gzip
import io
import pickle
import pickletools

import pytest

from mlarray import CorruptFileError, LimitExceededError, MLArray, UnsafeLegacyFileError, limits
from mlarray._published import safe_pickle as _legacy
from mlarray._published.files import read_published_mapping, safe_unpickle
from stress import hostile
from stress.isolate import run_isolated


def test_issue_reference_bomb_stops_early_in_bounded_memory(tmp_path):
    """A 58 KB file whose pickle lists 30 M references to one object (the issue measured 37 s, 2.47 GB
    before the UnsafeLegacyFileError): refused while inflating (60 MB of pickle > 16 MiB)."""
    case = hostile.legacy_refs(tmp_path, n=30_000_000)
    res = run_isolated(case.path, ["open", "info"], "unsafe", mem_mb=1024, timeout=120)
    assert res["verdict"] == "ok", res
    assert "max_legacy_pickle_bytes" in res["ops"]["open"]["msg"] and res["peak_mb"] < 300


def test_reference_bomb_under_the_size_limit_stops_at_the_value_limit():
    body = b"\x80\x02]q\x00(]q\x01" + b"h\x01" * 200_000 + b"e."  # one list holding 200,001 refs to another
    with limits(max_legacy_values=100_000):
        with pytest.raises(UnsafeLegacyFileError, match="max_legacy_values") as info:
            safe_unpickle(body, "x.mla")
    assert isinstance(info.value, LimitExceededError) and "MLARRAY_MAX_LEGACY_VALUES" in str(info.value)
    with limits(max_legacy_values=300_000):
        assert len(safe_unpickle(body)) == 200_001


def test_the_value_limit_counts_while_unpickling_not_after():
    """The count runs per opcode: a pickle that would build 10^6 values is stopped after 10^4 opcodes,
    having built only those (checked by counting the opcodes the unpickler dispatched)."""
    body = pickle.dumps([[1, 2, 3]] * 1 + [[i] for i in range(300_000)], protocol=4)
    unp = _legacy._AllowListUnpickler(io.BytesIO(body), 10_000)
    with pytest.raises(_legacy._TooLarge):
        unp.load()
    assert unp.dispatch.left < 0 and len(unp.stack) + sum(len(s) for s in unp.metastack) < 20_000


def test_gzip_bomb_stops_at_the_pickle_size_limit(tmp_path):
    case = hostile.legacy_gzip_bomb(tmp_path, nbytes=64 << 20)
    with pytest.raises(LimitExceededError, match="max_legacy_pickle_bytes"):
        MLArray.open(case.path)
    with limits(max_legacy_pickle_bytes=128 << 20):  # raised for a trusted file: read (trailing bytes ignored)
        MLArray.open(case.path).close()


def test_build_on_a_stand_in_cannot_change_the_library(tmp_path):
    """Issue 12, item 3: BUILD on the function AxisLabelEnum maps to set its __qualname__ etc."""
    before = (_legacy._enum_value.__qualname__, _legacy._enum_value.__defaults__, dict(_legacy._enum_value.__dict__))
    case = hostile.legacy_build(tmp_path)
    with pytest.raises(UnsafeLegacyFileError, match="BUILD"):
        MLArray.open(case.path)
    for stand_in in (b"cmlarray.meta\nAxisLabelEnum\n", b"ccopyreg\n_reconstructor\n", b"cnumpy\ndtype\n",
                     b"c__builtin__\nlist\n", b"c_codecs\nencode\n"):
        for state in (b"}X\x08\x00\x00\x00__call__K\x01s", b"N}X\x0c\x00\x00\x00__qualname__X\x01\x00\x00\x00xs\x86"):
            with pytest.raises(UnsafeLegacyFileError):
                safe_unpickle(b"\x80\x02" + stand_in + state + b"b.")
    assert (_legacy._enum_value.__qualname__, _legacy._enum_value.__defaults__,
            dict(_legacy._enum_value.__dict__)) == before


@pytest.mark.parametrize("body,what", [
    (b"\x80\x02c__builtin__\ndict\nX\x01\x00\x00\x00aK\x01s.", "SETITEM on a type"),
    (b"\x80\x02cmlarray.meta\nAxisLabelEnum\nK\x01a.", "APPEND on a function"),
    (b"\x80\x02cnumpy\ndtype\n(K\x01e.", "APPENDS on a type"),
    (b"\x80\x02cmlarray.meta\nCoordSystemEnum\n(X\x01\x00\x00\x00aK\x01u.", "SETITEMS on a function"),
    (b"\x80\x02cnumpy\ndtype\n)\x81.", "NEWOBJ of _SafeDtype"),
    (b"\x80\x04\x8f(K\x01\x90.", "a set"),
    (b"\x80\x02(cmlarray.meta\n_FrozenList\no.", "old-style"),
    (b"\x80\x02(imlarray.meta\n_FrozenList\n.", "old-style"),
    (b"\x80\x02\x82\x01.", "extension registry"),
])
def test_mutating_and_constructing_opcodes_only_touch_plain_containers(body, what):
    with pytest.raises(UnsafeLegacyFileError, match=what):
        safe_unpickle(body)


def test_real_fixture_opcodes_still_pass():
    """The published package's pickles use BUILD only on the numpy dtype (checked state) and
    APPENDS/SETITEMS on lists/dicts; all fixtures keep loading (tests/test_legacy.py covers values)."""
    import json
    from pathlib import Path

    import blosc2

    data = Path(__file__).resolve().parents[1] / "data" / "legacy"
    names = json.loads((data / "expected.json").read_text(encoding="utf-8"))["fixtures"]
    ops = set()
    for name in names:
        store = blosc2.open(str(data / name))
        raw = gzip.decompress(store.schunk.vlmeta["mlarray"])
        ops |= {op.name for op, _, _ in pickletools.genops(raw)}
        assert isinstance(read_published_mapping(store.schunk.vlmeta["mlarray"], name), dict)
    assert "BUILD" in ops  # exercised by real files, and still accepted


@pytest.mark.parametrize("where", ["spacing", "source", "extra"])
def test_huge_integer_in_legacy_metadata_is_a_corrupt_file_error(tmp_path, where):
    """Issue 12, item 4: was a bare ValueError (source/extra) or OverflowError (spacing)."""
    case = hostile.legacy_huge_int(tmp_path, where=where)
    with pytest.raises(CorruptFileError, match="1329 bits"):
        MLArray.open(case.path)
    res = run_isolated(case.path, ["info"], "corrupt", mem_mb=1024, timeout=60)
    assert res["verdict"] == "ok", res


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_integers_up_to_1024_bits_still_load(protocol):
    value = {"a": 2**1023, "b": -(2**1000), "c": [2**64, 10**300]}
    assert safe_unpickle(pickle.dumps(value, protocol=protocol)) == value
    with pytest.raises(CorruptFileError, match="1025 bits"):
        safe_unpickle(pickle.dumps({"a": 2**1024}, protocol=protocol))
