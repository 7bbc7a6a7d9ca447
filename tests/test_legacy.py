"""Safe reading of files written by the published mlarray 0.0.x package (pickle metadata).

Fixtures in tests/data/legacy/ come from scripts/make_legacy_fixtures.py run with the
published package; expected.json records what that package's own API said each file holds.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import io
import json
import os
import pickle
import pickletools
import subprocess
from pathlib import Path

import blosc2
import numpy as np
import pytest

from mlarray._errors import CorruptFileError, UnsafeLegacyFileError
from mlarray._published.files import migrate_published_mapping, read_published_mapping, safe_unpickle

DATA = Path(__file__).parent / "data" / "legacy"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
FIXTURES = sorted(EXPECTED["fixtures"])
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def _vlmeta(path: Path):
    store = blosc2.open(str(path))  # keep the store alive while vlmeta is read
    return store.schunk.vlmeta["mlarray"]


def _plain(x):
    return json.loads(json.dumps(x))


# -- hand-built pickles that name arbitrary globals (no need to import them) -----------------

def _frag(value) -> bytes:
    """Opcodes for value, without PROTO/STOP and without memo (so fragments compose)."""
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=2)
    p.fast = True
    p.dump(value)
    return buf.getvalue()[2:-1]


def _call(module: str, name: str, *args: bytes) -> bytes:
    """Opcodes for module.name(*args); args are fragments."""
    return f"c{module}\n{name}\n".encode() + b"(" + b"".join(args) + b"tR"


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _in_dict(key: str, body: bytes) -> bytes:
    return b"}(" + _frag(key) + body + b"u"


class _Exploit:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a refused pickle executed code"


# -- safe_unpickle builds plain values -------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_values_roundtrip(protocol):
    value = {"a": [1, 2.5, "x", None, True, False], "b": {"c": {"d": []}}, "t": (1, 2), 3: -4, "big": 2**80,
             "nan_free": 1e-300, "uni": "héllo"}
    assert safe_unpickle(pickle.dumps(value, protocol=protocol)) == value


def test_frozen_containers_become_builtin_list_and_dict():
    body = _in_dict("shape", _call("mlarray.meta", "_FrozenList", _frag([8, 16, 16])))
    cparams = _call("mlarray.meta", "_FrozenDict", _frag({"codec": 2}))
    body = b"}(" + _frag("blosc2") + body + _frag("cparams") + cparams + b"u"
    out = safe_unpickle(_pickle(body))
    assert out == {"blosc2": {"shape": [8, 16, 16]}, "cparams": {"codec": 2}}
    assert type(out["blosc2"]["shape"]) is list and type(out["cparams"]) is dict


def test_frozen_list_via_copyreg_reconstructor_and_newobj():
    recon = _call("copyreg", "_reconstructor", b"cmlarray.meta\n_FrozenList\n", b"c__builtin__\nlist\n", _frag([1, 2]))
    assert safe_unpickle(_pickle(recon)) == [1, 2]
    # protocol 2 NEWOBJ: cls.__new__(cls) then APPENDS
    newobj = b"cmlarray.meta\n_FrozenList\n)\x81(K\x01K\x02e"
    assert safe_unpickle(_pickle(newobj)) == [1, 2]


def test_reconstructor_refuses_other_classes(marker):
    body = _call("copyreg", "_reconstructor", b"cos\nsystem\n", b"c__builtin__\nobject\n", b"N")
    with pytest.raises(UnsafeLegacyFileError):
        safe_unpickle(_pickle(body))
    body = _call("copyreg", "_reconstructor", b"cmlarray.meta\n_FrozenDict\n", b"c__builtin__\nlist\n", b"N")
    with pytest.raises(UnsafeLegacyFileError):
        safe_unpickle(_pickle(body))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ordered_dict_becomes_dict(protocol):
    out = safe_unpickle(pickle.dumps(collections.OrderedDict([("b", 1), ("a", 2)]), protocol=protocol))
    assert out == {"b": 1, "a": 2} and type(out) is dict


def test_enums_become_their_str_value():
    body = _in_dict("role", _call("mlarray.meta", "AxisLabelEnum", _frag("channel")))
    assert safe_unpickle(_pickle(body)) == {"role": "channel"}
    assert safe_unpickle(_pickle(_call("mlarray.meta", "CoordSystemEnum", _frag("RAS+")))) == "RAS+"
    with pytest.raises(UnsafeLegacyFileError):  # an enum "value" that is not a str
        safe_unpickle(_pickle(_call("mlarray.meta", "AxisLabelEnum", _frag([1]))))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_numpy_float64_and_str_scalars_become_python_values(protocol):
    out = safe_unpickle(pickle.dumps([np.float64(368.75), np.float64(-0.1), np.str_("liver")], protocol=protocol))
    assert out == [368.75, -0.1, "liver"]
    assert [type(v) for v in out] == [float, float, str]


# -- safe_unpickle refuses everything else, without running it -------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_os_system_is_refused_and_not_run(protocol, marker):
    payload = pickle.dumps({"source": {"data": _Exploit(os.system, f"touch {marker}")}}, protocol=protocol)
    with pytest.raises(UnsafeLegacyFileError, match="system"):
        safe_unpickle(payload)


@pytest.mark.parametrize(
    "func, args",
    [
        (eval, ("__import__('os').system('touch MARKER')",)),
        (exec, ("open('MARKER', 'w').close()",)),
        (subprocess.Popen, (["touch", "MARKER"],)),
        (subprocess.call, (["touch", "MARKER"],)),
        (getattr, (int, "mro")),
        (open, ("MARKER", "w")),
        (__import__, ("os",)),
    ],
    ids=lambda v: getattr(v, "__qualname__", None) if callable(v) else "",
)
def test_dangerous_globals_are_refused(func, args, marker):
    args = tuple(json.loads(json.dumps(a).replace("MARKER", str(marker))) if not isinstance(a, type) else a
                 for a in args)
    payload = pickle.dumps([_Exploit(func, *args)], protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(UnsafeLegacyFileError) as info:
        safe_unpickle(payload, "some/file.mla")
    assert info.value.path == "some/file.mla"
    assert "nothing was executed" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [np.arange(3), np.float32(1.5), np.int64(3), np.bool_(True), np.dtype("f8"), np.dtype("O"),
     np.array(["a"], dtype=object)],
    ids=lambda v: f"{type(v).__name__}",
)
def test_numpy_objects_other_than_float64_and_str_scalars_are_refused(value):
    with pytest.raises(UnsafeLegacyFileError):
        safe_unpickle(pickle.dumps({"stats": {"mean": value}}, protocol=pickle.HIGHEST_PROTOCOL))


def test_hand_built_globals_are_refused(marker):
    for module, name in [("builtins", "eval"), ("__builtin__", "eval"), ("posix", "system"), ("nt", "system"),
                         ("subprocess", "Popen"), ("mlarray.meta", "Meta"), ("mlarray.meta", "MetaSpatial"),
                         ("numpy", "frombuffer"), ("numpy.core.multiarray", "_reconstruct"), ("builtins", "str")]:
        body = _call(module, name, _frag(f"touch {marker}"))
        with pytest.raises(UnsafeLegacyFileError, match=name):
            safe_unpickle(_pickle(body))


def test_persistent_ids_are_refused():
    with pytest.raises(UnsafeLegacyFileError):
        safe_unpickle(b"\x80\x02" + _frag("x") + b"Q.")  # BINPERSID


def test_shared_reference_blowup_is_refused():
    node: list = []
    for _ in range(60):  # 60 levels of [x, x]: a tiny pickle that expands to 2**60 values
        node = [node, node]
    payload = pickle.dumps(node, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(payload) < 2000
    with pytest.raises(UnsafeLegacyFileError, match="expands"):
        safe_unpickle(payload)


def test_deep_nesting_is_refused():
    node: list = []
    for _ in range(200):
        node = [node]
    with pytest.raises(UnsafeLegacyFileError, match="deeper"):
        safe_unpickle(pickle.dumps(node))


def test_malicious_fixture_is_refused_and_not_run():
    marker = Path(EXPECTED["malicious_marker"])
    marker.unlink(missing_ok=True)
    path = DATA / "malicious.mla"
    with pytest.raises(UnsafeLegacyFileError, match="system") as info:
        read_published_mapping(_vlmeta(path), path)
    assert info.value.path == str(path)
    assert not marker.exists()


# -- real fixtures from the published package ------------------------------------------------

def _globals_in(pickled: bytes) -> set:
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(pickled) if op.name != "MEMOIZE"]
    found = set()
    for i, (name, arg) in enumerate(ops):
        if name == "STACK_GLOBAL":
            found.add(f"{ops[i - 2][1]}.{ops[i - 1][1]}")
        elif name in ("GLOBAL", "INST"):
            found.add(arg.replace(" ", "."))
    return found


def test_fixture_pickles_only_use_the_allowed_globals():
    """Documents what real files contain (memo refs show as numbers before '.')."""
    seen = set()
    for name in FIXTURES:
        seen |= {g.split(".")[-1] for g in _globals_in(gzip.decompress(_vlmeta(DATA / name)))}
    assert seen <= {"_FrozenList", "_FrozenDict", "AxisLabelEnum", "CoordSystemEnum", "scalar", "dtype"}
    assert {"_FrozenList", "_FrozenDict", "AxisLabelEnum", "scalar", "dtype"} <= seen


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_decodes_to_what_the_published_package_read(name):
    exp = EXPECTED["fixtures"][name]
    d = read_published_mapping(_vlmeta(DATA / name), DATA / name)
    assert type(d) is dict
    assert _plain(d) == exp["pickled_mapping"]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_migrates_to_what_the_published_package_said(name):
    exp = EXPECTED["fixtures"][name]
    m = migrate_published_mapping(read_published_mapping(_vlmeta(DATA / name), DATA / name))
    assert m == _plain(m)  # JSON-clean
    assert m["format_version"] == 1
    assert m["writer"] == f"mlarray {exp['mlarray_version']} (legacy pickle)"
    assert m["has_array"] is exp["has_array"]
    assert m.get("is_seg") is exp["is_seg"]
    assert m.get("source", {}) == exp["source"]
    assert m.get("extra", {}) == exp["extra"]
    assert m.get("source_format") == exp["image_meta_format"]

    spatial = {k: v for k, v in exp["spatial"].items() if not k.startswith("_")}
    assert m.get("spatial", {}) == spatial
    for key in ("spacing", "origin", "direction"):
        if exp.get(key) is not None:  # the published MLArray properties agree too
            assert m["spatial"][key] == exp[key]

    stats = dict(exp["stats"])
    want = {k: stats.pop(k) for k in ("min", "max", "mean", "median", "std") if k in stats}
    pct = {}
    for side in ("min", "max"):
        if f"percentile_{side}" in stats:  # published keys are fractions (0.005 = 0.5th percentile)
            pct[format(round(stats.pop(f"percentile_{side}_key") * 100, 10), "g")] = stats.pop(f"percentile_{side}")
    if pct:
        want["percentiles"] = pct
    assert not stats, f"unexpected legacy stats {stats}"
    assert m.get("stats", {}) == want

    assert m.get("bbox", {}) == exp["bbox"]
    assert m.get("blosc2", {}) == {k: v for k, v in exp["blosc2"].items() if v is not None}


@pytest.mark.parametrize("name", [n for n in FIXTURES if EXPECTED["fixtures"][n]["has_array"]])
def test_fixture_array_is_readable_with_current_blosc2(name):
    exp = EXPECTED["fixtures"][name]["array"]
    arr = blosc2.open(str(DATA / name))[...]
    assert list(arr.shape) == exp["shape"]
    assert str(arr.dtype) == exp["dtype"]
    assert hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest() == exp["sha256"]


def test_fixture_specifics():
    img = migrate_published_mapping(read_published_mapping(_vlmeta(DATA / "image3d.mla"), "image3d.mla"))
    assert img["stats"]["percentiles"] == {"0.5": -3.5, "99.5": 741.0}
    assert img["spatial"]["origin"] == [10.0, -20.0, 5.0] and all(type(v) is float for v in img["spatial"]["origin"])
    assert img["source"] == {"patient_id": "123", "modality": "CT"}
    seg = migrate_published_mapping(read_published_mapping(_vlmeta(DATA / "seg.mla"), "seg.mla"))
    assert seg["is_seg"] is True and seg["bbox"]["labels"] == ["liver", "tumor"]
    ch = migrate_published_mapping(read_published_mapping(_vlmeta(DATA / "image2d_channels.mla"), "c.mla"))
    assert ch["spatial"]["axis_labels"] == ["channel", "spatial_y", "spatial_x"]
    assert ch["source"]["channel_role"] == "channel"
    meta_only = migrate_published_mapping(read_published_mapping(_vlmeta(DATA / "metaonly.mla"), "m.mla"))
    assert meta_only["has_array"] is False and "spatial" not in meta_only and "blosc2" not in meta_only


# -- damaged input ---------------------------------------------------------------------------

def _good_raw() -> bytes:
    return bytes(_vlmeta(DATA / "image3d.mla"))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not gzip at all",
        _good_raw.__call__()[:20],
        _good_raw.__call__()[:-12],
        gzip.compress(b"definitely not a pickle"),
        gzip.compress(pickle.dumps({"a": 1})[:-3]),  # truncated pickle
        gzip.compress(pickle.dumps([1, 2, 3])),  # a pickle, but not a mapping
        gzip.compress(pickle.dumps("x")),
        12345,
    ],
    ids=["empty", "garbage", "truncated-header", "truncated-body", "gzip-garbage", "truncated-pickle",
         "list", "str", "not-bytes"],
)
def test_damaged_metadata_is_corrupt_file_error(raw):
    with pytest.raises(CorruptFileError) as info:
        read_published_mapping(raw, "damaged.mla")
    assert not isinstance(info.value, UnsafeLegacyFileError)
    assert info.value.path == "damaged.mla"


def test_read_accepts_pre_pickle_plain_mapping():
    """Published versions before ~0.0.49 stored the mapping itself in vlmeta (no pickle)."""
    assert read_published_mapping({"image": {"a": 1}, "is_seg": None}, "old.mla") == {"image": {"a": 1}, "is_seg": None}


# -- migration details -----------------------------------------------------------------------

def test_migrate_percent_scale_and_unmapped_values_are_kept():
    m = migrate_published_mapping({
        "stats": {"min": 0, "percentile_min": 1.0, "percentile_min_key": 1, "percentile_max": 9.0,
                  "percentile_max_key": 99, "percentile_mean": 5.0, "percentile_std": None},
        "extra": {"data": {"mine": 1}},
        "spatial": {"spacing": [1, 2], "weird": "x", "_num_spatial_axes": 2, "affine": None},
        "blosc2": {"chunk_size": [1, 2], "cparams": {"codec": 2}, "dparams": None},
        "future_key": [1],
    })
    assert m["stats"] == {"min": 0.0, "percentiles": {"1": 1.0, "99": 9.0}, "percentile_mean": 5.0}
    assert m["spatial"] == {"spacing": [1.0, 2.0]}
    assert m["blosc2"] == {"chunk_size": [1, 2]}
    assert m["extra"] == {"mine": 1, "legacy_unmapped": {"spatial.weird": "x", "future_key": [1]}}


def test_migrate_fraction_percentiles():
    m = migrate_published_mapping({"stats": {"percentile_min": -1.0, "percentile_min_key": 0.05,
                                          "percentile_max": 2.0, "percentile_max_key": 0.95}})
    assert m["stats"]["percentiles"] == {"5": -1.0, "95": 2.0}


def test_migrate_never_overwrites_user_extra():
    m = migrate_published_mapping({"extra": {"data": {"legacy_unmapped": "user's"}}, "odd": 1})
    assert m["extra"]["legacy_unmapped"] == "user's"
    assert m["extra"]["_legacy_unmapped"] == {"odd": 1}


def test_migrate_old_dict_layout():
    """Layout of the published 0.0.2x packages: image/_blosc2, plain flags, bbox as list."""
    m = migrate_published_mapping({
        "image": {"patient": "p"}, "is_seg": True, "_has_array": True, "_image_meta_format": "nifti",
        "_blosc2": {"chunk_size": [4, 4], "block_size": None, "patch_size": [4, 4]},
        "bbox": [[[0, 1], [2, 3]]], "_mlarray_version": "v0", "extra": {},
        "spatial": {"spacing": [1.0, 1.0], "origin": None}, "stats": None,
    })
    assert m == {
        "format_version": 1, "writer": "mlarray v0 (legacy pickle)", "has_array": True,
        "spatial": {"spacing": [1.0, 1.0]}, "bbox": {"bboxes": [[[0, 1], [2, 3]]]}, "is_seg": True,
        "source": {"patient": "p"}, "source_format": "nifti",
        "blosc2": {"chunk_size": [4, 4], "patch_size": [4, 4]}, "extra": {},
    }


def test_migrate_minimal_and_source_unwrap():
    assert migrate_published_mapping({}) == {"format_version": 1, "writer": "mlarray 0.0.x (legacy pickle)"}
    m = migrate_published_mapping({"source": {"data": {"k": "v"}}, "is_seg": {"is_seg": None}})
    assert m["source"] == {"k": "v"} and m["is_seg"] is None


# ---------------------------------------------------------------- end to end through MLArray.open

@pytest.mark.parametrize("name", ["image3d.mla", "seg.mla", "image2d_channels.mla", "metaonly.mla"])
def test_legacy_fixture_opens_through_mlarray(name):
    from mlarray import MLArray

    exp = EXPECTED["fixtures"][name]
    img = MLArray.open(DATA / name)
    assert img.meta.has_array == exp["has_array"]
    if exp["has_array"]:
        arr = img.to_numpy()
        assert list(arr.shape) == exp["array"]["shape"]
        assert str(arr.dtype) == exp["array"]["dtype"]
        assert hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest() == exp["array"]["sha256"]
    for key in ("spacing", "origin", "direction"):
        if exp.get(key) is not None:
            np.testing.assert_allclose(getattr(img, key), exp[key])
    assert img.meta.is_seg == exp["is_seg"]
    assert img.meta.source == exp["pickled_mapping"]["source"]["data"]
    if exp["bbox"].get("bboxes"):
        assert img.meta.bbox.bboxes == exp["bbox"]["bboxes"]


def test_legacy_file_resaves_as_v1_json(tmp_path):
    from mlarray import MLArray

    img = MLArray.open(DATA / "image3d.mla")
    img.save(tmp_path / "migrated.mla")
    from mlarray._file.container import base_offset

    raw = blosc2.open(str(tmp_path / "migrated.mla"), offset=base_offset(str(tmp_path / "migrated.mla")))
    assert "mlarray" not in raw.vlmeta and json.loads(raw.vlmeta["mla.meta"])["format_version"] == 1
    np.testing.assert_array_equal(MLArray.open(tmp_path / "migrated.mla").to_numpy(), img.to_numpy())


def test_malicious_fixture_refused_through_mlarray_open():
    from mlarray import MLArray

    marker = EXPECTED["malicious_marker"]
    with pytest.raises(UnsafeLegacyFileError):
        MLArray.open(DATA / "malicious.mla")
    assert not os.path.exists(marker)
