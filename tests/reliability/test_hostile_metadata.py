"""Crafted metadata that is valid JSON but asks for too much (issue 12, item 2): refused before it is
parsed or validated, with a LimitExceededError naming the limit and how to raise it; valid metadata
at realistic maxima still opens. Files come from stress/hostile.py; the issue's sizes run in capped
child processes (stress/isolate.py), smaller ones in-process with the limits lowered."""

import json
import os

import numpy as np
import pytest

import mlarray
from mlarray import CorruptFileError, LimitExceededError, Meta, MLArray, limits
from stress import hostile
from stress._common import read_meta_json, write_meta_json
from stress.isolate import run_isolated

# (builder, kwargs, the limit that fires first): the issue's figures, each in a child capped at 1.5 GiB
ISSUE_CASES = [
    ("meta_boxes", {"n": 8_000_000}, "max_meta_expansion"),   # 98 KB listing 8 M boxes: was 3.4 GB
    ("meta_classes", {"n": 1_000_000}, "max_json_values"),    # was 17 s, 1.1 GB (4 members per class)
    ("meta_classes", {"n": 200_000}, "max_classes"),
    ("meta_extra_keys", {"n": 5_000_000}, "max_json_values"),  # was 72 s, 1.6 GB
    ("meta_levels", {"n": 100_000}, "max_levels"),            # was info 9.7 s, 409 MB
    ("meta_empty_lists", {"n": 20_000_000}, "max_meta_expansion"),
]


@pytest.mark.parametrize("name,kw,limit", ISSUE_CASES, ids=[f"{c[0]}-{next(iter(c[1].values()))}" for c in ISSUE_CASES])
def test_issue_sized_metadata_bombs_are_refused_in_bounded_memory(tmp_path, name, kw, limit):
    case = hostile.BUILDERS[name](tmp_path, **kw)
    assert os.path.getsize(case.path) < 20 * 2**20
    res = run_isolated(case.path, ["open", "info"], "limit", mem_mb=1536, timeout=240)
    assert res["verdict"] == "ok", res
    assert limit in res["ops"]["open"]["msg"], res["ops"]["open"]["msg"]
    assert f"MLARRAY_{limit.upper()}" in res["ops"]["open"]["msg"] and "mlarray.limits(" in res["ops"]["open"]["msg"]
    assert res["peak_mb"] < 1024, res["peak_mb"]
    info = res["ops"]["info"]["value"]
    assert info["rc"] == 1 and len(info["stderr"].strip().splitlines()) == 1 and limit in info["stderr"]


@pytest.mark.parametrize("name,n,limit,lowered", [
    ("meta_boxes", 50, "max_boxes", {"max_boxes": 49}),
    ("meta_classes", 50, "max_classes", {"max_classes": 49}),
    ("meta_extra_keys", 5_000, "max_json_values", {"max_json_values": 4_000}),
    ("meta_levels", 65, "max_levels", {}),
])
def test_each_limit_names_itself_and_its_remedy(tmp_path, name, n, limit, lowered):
    case = hostile.BUILDERS[name](tmp_path, n=n)
    with limits(**lowered):
        with pytest.raises(LimitExceededError) as info:
            MLArray.open(case.path)
    err = info.value
    assert err.limit == limit and isinstance(err, CorruptFileError)
    assert os.path.basename(case.path) in str(err)
    assert f"MLARRAY_{limit.upper()}" in str(err) and f"mlarray.limits({limit}=" in str(err)


def test_a_limit_is_raised_for_a_trusted_file_by_env_or_context(tmp_path, monkeypatch):
    case = hostile.meta_classes(tmp_path, n=300)
    with limits(max_classes=299), pytest.raises(LimitExceededError):
        MLArray.open(case.path)
    with limits(max_classes=299):
        with limits(max_classes=300):  # the innermost setting wins
            assert len(MLArray.open(case.path).meta.classes) == 300
    monkeypatch.setenv("MLARRAY_MAX_CLASSES", "299")
    with pytest.raises(LimitExceededError):
        MLArray.open(case.path)
    monkeypatch.setenv("MLARRAY_MAX_CLASSES", "0")  # 0: no limit
    assert len(MLArray.open(case.path).meta.classes) == 300
    with limits(max_classes=10):  # code wins over the environment
        with pytest.raises(LimitExceededError):
            MLArray.open(case.path)
    with pytest.raises(TypeError, match="unknown limit"):
        with limits(max_clases=3):
            pass


def test_counts_are_taken_without_the_characters_inside_strings(tmp_path):
    # 3,000 keys whose names are full of commas, colons and brackets: the quick character count says
    # ~30,000 values, the exact one 3,000; a limit of 10,000 must not refuse this valid file
    p = tmp_path / "strings.mla"
    MLArray(meta=Meta(extra={f"k{i},:[{{": "a,b:[c{d" * 3 for i in range(3_000)})).save(p)
    with limits(max_json_values=10_000):
        assert len(MLArray.open(p).meta.extra) == 3_000
    with limits(max_json_values=2_000), pytest.raises(LimitExceededError, match="max_json_values"):
        MLArray.open(p)


def test_realistic_maxima_open(tmp_path):
    """Valid data is never refused: 20,000 3-D boxes with labels and scores, 1,300 classes (FreeSurfer's
    LUT), a 20,000-element DICOM header and a 1 MB OME-XML string open with the default limits."""
    rng = np.random.default_rng(0)
    lo = rng.integers(0, 10_000, (20_000, 3, 1))
    boxes = np.concatenate([lo, lo + rng.integers(1, 50, (20_000, 3, 1))], axis=2)
    source = {"dicom": {f"{g:04X}{e:04X}": {"vr": "DS", "Value": [1.5, 2.5]} for g in range(4) for e in range(5_000)},
              "ome_xml": "<OME>" + '<Plane TheZ="1" PositionX="1.5,2:3"/>' * 25_000 + "</OME>"}
    meta = Meta(is_seg=True, classes={i: f"structure {i}" for i in range(1, 1_301)}, source=source,
                bbox={"bboxes": boxes.tolist(), "labels": ["lesion"] * len(boxes), "scores": [0.5] * len(boxes)})
    p = tmp_path / "real.mla"
    MLArray(np.zeros((16, 16, 16), np.uint8), meta=meta).save(p)
    img = MLArray.open(p)
    assert len(img.meta.bbox.bboxes) == 20_000 and len(img.meta.classes) == 1_300
    assert len(img.meta.source["dicom"]) == 20_000


def test_the_largest_real_documents_pass_the_text_and_count_checks():
    """At the sizes the limits table names as real maxima (checked on the text and the parsed document,
    without writing a file): the DICOM JSON of a 10,000-frame enhanced MR (~1.5 M values), a 60,000-entry
    class table (uint16 instance maps) and 50,000 3-D boxes in one document are below the limits."""
    from mlarray._file.format import check_document_counts, check_json_text, count_values

    # one frame's functional groups in the DICOM JSON model, ~150 values (pydicom's liver.dcm and
    # eCT_Supplemental.dcm: 150-190 per frame): 12 sequences of 3 elements with 3 values each
    frame = {f"0020{s:04X}": {"vr": "SQ", "Value": [{f"0018{e:04X}": {"vr": "DS", "Value": [0.5, 1.5, 2.5]}
                                                    for e in range(3)}]} for s in range(12)}
    doc = {"format_version": 1, "source": {"dicom": {"52009230": {"vr": "SQ", "Value": [frame] * 10_000}}},
           "bbox": {"bboxes": [[[1, 2], [3, 4], [5, 6]]] * 50_000}, "classes": [{"id": 1, "name": "a"}] * 60_000}
    assert count_values(doc["source"]) > 1_400_000
    text = json.dumps(doc, separators=(",", ":"))
    check_json_text(text, "real.mla")
    check_document_counts(json.loads(text), "real.mla")


@pytest.mark.parametrize("where,expect", [("spacing", "spatial.spacing"), ("extra", None)])
def test_huge_integers_in_json_metadata(tmp_path, where, expect):
    case = hostile.meta_huge_int(tmp_path, digits=400, where=where)
    if expect is None:  # free-form data: a big integer is valid JSON and valid metadata
        assert MLArray.open(case.path).meta.extra["n"] == int("9" * 400)
        return
    with pytest.raises(CorruptFileError, match=expect):
        MLArray.open(case.path)
    case = hostile.meta_huge_int(tmp_path, digits=5_000, where="extra")  # beyond Python's int parsing limit
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        MLArray.open(case.path)


def test_deep_nesting_is_a_corrupt_file_error(tmp_path):
    case = hostile.meta_deep(tmp_path, n=100_000)
    with pytest.raises(CorruptFileError):
        MLArray.open(case.path)


@pytest.mark.parametrize("key", ["mla.pad", "mla.meta", "mla.checksums", "other"])
def test_vlmeta_entry_larger_than_the_limit_is_refused_before_it_is_loaded(tmp_path, key):
    """Issue 12, item 6 (1 GiB mla.meta / mla.pad), at 2 MiB with the limit lowered to 1 MiB: the entry's
    chunk header gives its size, so nothing is inflated (the issue's size: test_issue_sized_vlmeta_entry)."""
    case = hostile.vlmeta_entry(tmp_path, key=key, nbytes=2 * 2**20)
    # mla.meta padded with spaces also inflates >1000x: whichever limit is checked first names itself
    fired = "(max_meta_bytes|max_meta_expansion)" if key == "mla.meta" else "max_meta_bytes"
    with limits(max_meta_bytes=2**20):
        with pytest.raises(LimitExceededError, match=f"vlmeta entry '{key}'.*{fired}"):
            MLArray.open(case.path)
    if key not in ("mla.checksums", "mla.meta"):  # zeros are no checksums; spaces still inflate >1000x
        MLArray.open(case.path).close()


@pytest.mark.parametrize("key", ["mla.pad", "mla.meta"])
def test_issue_sized_vlmeta_entry(tmp_path, key):
    """A 1 GiB mla.pad of zeros / mla.meta padded with 1 GiB of spaces (~1 MB on disk): refused at open
    from the entry's chunk header, in a child capped at 1 GiB (Blosc2 would load and inflate it)."""
    code = ("import sys; sys.path.insert(0, sys.argv[2]); import hostile, pathlib;"
            "hostile.vlmeta_entry(pathlib.Path(sys.argv[1]), key=sys.argv[3], nbytes=2**30)")
    import subprocess
    import sys

    from stress._common import REPO, subprocess_env

    subprocess.run([sys.executable, "-c", code, str(tmp_path), str(REPO / "stress"), key], check=True,
                   env=subprocess_env(), timeout=600)
    path = next(tmp_path.glob("*.mla"))
    assert os.path.getsize(path) < 16 * 2**20
    res = run_isolated(path, ["open", "info", "napari"], "limit", mem_mb=1024, timeout=120)
    assert res["verdict"] == "ok", res
    assert res["peak_mb"] < 400, res["peak_mb"]


def test_metadata_expansion_limit_applies_above_one_mib_only(tmp_path):
    # 500 KB of spaces inflate ~1000x but stay under the floor: fine; 3 MB of them are refused
    for n, refused in ((500_000, False), (3_000_000, True)):
        p = tmp_path / f"pad{n}.mla"
        MLArray(meta=Meta(extra={"a": 1})).save(p)
        write_meta_json(p, json.dumps(read_meta_json(p)) + " " * n)
        if refused:
            with pytest.raises(LimitExceededError, match="max_meta_expansion"):
                MLArray.open(p)
        else:
            MLArray.open(p).close()


def test_list_bomb_that_does_not_compress_is_refused_from_the_text(tmp_path):
    case = hostile.meta_empty_lists(tmp_path, n=9_000_000)  # 9 M lists > 4 M + 4 x 1 M allowed for boxes
    with limits(max_meta_expansion=0):  # switched off: the text count must catch it on its own
        with pytest.raises(LimitExceededError, match="JSON lists.*max_json_values"):
            MLArray.open(case.path)


def test_checksum_entry_of_many_chunks_is_not_limited_by_expansion():
    """A million identical chunks have identical CRCs, so mla.checksums may compress thousands of times:
    the expansion limit applies to the metadata entries only (the million-chunk file itself is an
    item-6 experiment in stress/experiments.py; writing it takes minutes)."""
    from mlarray._file.frame_check import _check_entry_size

    _check_entry_size("f.mla", "mla.checksums", 1_000, 5_400_000)
    with pytest.raises(LimitExceededError, match="max_meta_expansion"):
        _check_entry_size("f.mla", "mla.meta", 1_000, 5_400_000)
    _check_entry_size("f.mla", "mla.meta", 1_000, 1_000_000)  # under the 1 MiB floor


def test_valid_file_opens_with_every_limit_at_its_default():
    for name, lim in mlarray.LIMITS.items():
        assert lim.real and (lim.default is None or lim.default > 0), name


def test_pyramid_level_of_another_rank_is_a_corrupt_file(tmp_path):
    """Found by stress/fuzz_struct.py (json_field 'levels x1'): a 1-axis level listed for a 3-D array
    reached the napari reader and raised a bare ValueError there."""
    p = tmp_path / "a.mla"
    MLArray(np.zeros((4, 300, 300), np.uint8)).save(p)
    doc = read_meta_json(p)
    doc["pyramid"]["levels"] = [{"shape": [1], "scale": [1.0], "offset": 16, "nbytes": 1}]
    write_meta_json(p, doc)
    with pytest.raises(CorruptFileError, match="pyramid level 1 has 1 axes but the array has 3"):
        MLArray.open(p)


def test_damaged_frame_read_through_a_level_view_is_a_corrupt_file_error(tmp_path):
    """Found by stress/fuzz_struct.py (frame_header case 857): level 0 read through the napari reader's
    view raised C-Blosc2's bare RuntimeError."""
    from mlarray._data.levels import LevelArray

    class Broken:
        shape, dtype, chunks = (8, 8), np.dtype(np.uint8), (8, 8)

        def __getitem__(self, key):
            raise RuntimeError("Error while getting the buffer")

    lv = LevelArray((8, 8), np.uint8, (1.0, 1.0), lambda: Broken(), 0, path="x.mla")
    with pytest.raises(CorruptFileError, match="x.mla: level 0 cannot be read"):
        lv[0:2]


@pytest.mark.parametrize("name,kw,lowered", [
    ("meta_boxes", {"n": 50}, {"MLARRAY_MAX_BOXES": "49"}),
    ("meta_classes", {"n": 50}, {"MLARRAY_MAX_CLASSES": "49"}),
    ("meta_extra_keys", {"n": 5_000}, {"MLARRAY_MAX_JSON_VALUES": "4000"}),
    ("meta_levels", {"n": 65}, {}),
    ("vlmeta_entry", {"key": "mla.pad", "nbytes": 1 << 20}, {"MLARRAY_MAX_META_BYTES": str(1 << 19)}),
    ("legacy_refs", {"n": 200_000}, {"MLARRAY_MAX_LEGACY_VALUES": "100000"}),  # then: a list, not metadata
    ("legacy_gzip_bomb", {"nbytes": 20 << 20}, {}),
])
def test_the_remedy_a_refusal_prints_admits_the_file(tmp_path, monkeypatch, name, kw, lowered):
    """Each refusal names its limit and both documented ways to raise it; doing what the message says
    (the environment variable, or mlarray.limits(...) in code) opens the file."""
    import re

    case = hostile.BUILDERS[name](tmp_path, **kw)
    for k, v in lowered.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(LimitExceededError) as info:
        MLArray.open(case.path)
    msg = str(info.value)
    env, value = re.search(r"environment variable (MLARRAY_\w+)=(\d+|N)", msg).groups()
    code_name, code_value = re.search(r"mlarray\.limits\((\w+)=(\d+|N)\)", msg).groups()
    assert env == f"MLARRAY_{info.value.limit.upper()}" and code_name == info.value.limit and code_value == value
    if value == "N":  # the check stopped counting: the message says what N must exceed, and that 0 is off
        above = int(re.search(r"N above the current ([\d,]+); 0 switches the limit off", msg).group(1).replace(",", ""))
        value = code_value = str(above * 4)
    with limits(**{code_name: int(code_value)}):  # in code: wins over the (lowered) environment
        _open_past_the_limit(case)
    monkeypatch.setenv(env, value)
    _open_past_the_limit(case)


def _open_past_the_limit(case):
    if case.name == "legacy_refs":  # admitted by the limit, the pickle is a list: not metadata
        with pytest.raises(CorruptFileError, match="must be a mapping") as info:
            MLArray.open(case.path)
        assert not isinstance(info.value, LimitExceededError)
    else:
        MLArray.open(case.path).close()


def test_the_verified_open_cache_applies_the_limits_in_force(tmp_path, monkeypatch):
    """A read-only open is remembered for reuse (_open_cache); the reuse must not admit a file the
    limits in force now would refuse, nor keep refusing one they admit."""
    from mlarray._file import open_cache as _open_cache

    case = hostile.meta_classes(tmp_path, n=300)
    monkeypatch.setattr(_open_cache, "RACY_NS", 0)  # remember a file written a moment ago
    _open_cache.clear()
    MLArray.open(case.path).close()
    assert _open_cache.lookup(case.path, _open_cache.file_identity(case.path)) is not None
    with limits(max_classes=299), pytest.raises(LimitExceededError, match="max_classes"):
        MLArray.open(case.path)
    monkeypatch.setenv("MLARRAY_MAX_CLASSES", "299")
    with pytest.raises(LimitExceededError, match="max_classes"):
        MLArray.open(case.path)
    with limits(max_classes=300):
        assert len(MLArray.open(case.path).meta.classes) == 300
    monkeypatch.delenv("MLARRAY_MAX_CLASSES")
    assert len(MLArray.open(case.path).meta.classes) == 300


def test_a_float_tag_holding_a_list_is_plain_data(tmp_path):
    """{"$float": [1]} is not a NaN/Infinity tag; decoding it hashed the list (TypeError)."""
    p = tmp_path / "a.mla"
    MLArray(np.zeros((4, 4), np.uint8)).save(p)
    doc = read_meta_json(p)
    doc["extra"] = {"x": {"$float": [1]}, "y": {"$float": "NaN"}}
    write_meta_json(p, doc)
    extra = MLArray.open(p).meta.extra
    assert extra["x"] == {"$float": [1]} and extra["y"] != extra["y"]  # NaN
