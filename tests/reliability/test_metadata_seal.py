"""The metadata's own CRC-32 and its record of chunk checksums (mlarray._file.seal, docs/spec.md section 1)."""

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import mlarray
from mlarray import CorruptFileError, Meta, MLArray
from stress._common import frame_regions, open_base, read_meta_json, subprocess_env, write_meta_json


def _seg(tmp_path, name="seg.mla"):
    arr = (np.arange(24 * 40 * 36) % 5).astype(np.uint8).reshape(24, 40, 36)
    p = tmp_path / name
    MLArray(arr, spacing=(1.0, 1.0, 2.5), meta=Meta(is_seg=True, classes={1: "a"})).save(p)
    return p, arr


def _stored_text(p) -> str:
    store = open_base(p)
    return store.vlmeta["mla.meta"]


def _restore_text(p, text: str) -> None:
    store = open_base(p, mode="a")
    store.vlmeta["mla.meta"] = text
    del store


def _assert_sealed(p, chunk_checksums=True):
    text = _stored_text(p)
    body, crc = text.rsplit(',"checksum":"crc32:', 1)
    assert crc.endswith('"}') and int(crc[:8], 16) == zlib.crc32((body + "}").encode()) & 0xFFFFFFFF
    assert json.loads(text)["chunk_checksums"] is chunk_checksums


@pytest.mark.parametrize("old,new", [
    ('"spacing":[1.0,1.0,2.5]', '"spacing":[1.0,1.0,2.6]'),   # a digit, as in the 10k fuzz run
    ('"name":"a"', '"name":"q"'),
    ('"is_seg":true', '"is_seg":null'),
    ('"chunk_checksums":true', '"chunk_checksums":fals'),       # broken JSON is refused too
])
def test_changed_metadata_text_is_detected(tmp_path, old, new):
    # regression: 6 silent wrong metadata cases in the 10k fuzz run (flips inside mla.meta that still parse)
    p, _ = _seg(tmp_path)
    text = _stored_text(p)
    assert old in text
    _restore_text(p, text.replace(old, new, 1))
    with pytest.raises(CorruptFileError, match="seg.mla: the metadata"):
        MLArray.open(p)
    with pytest.raises(CorruptFileError, match="seg.mla: the metadata"):
        MLArray.load(p)
    assert [x for x in mlarray.validate(p) if x.severity == "error"]


@pytest.mark.parametrize("edit", [
    lambda t: t.replace('"checksum":"crc32:', '"checksum":"crc33:'),
    lambda t: t.replace('"checksum":"crc32:', '"checksun":"crc32:'),   # unknown key
    lambda t: t[:-3] + 'g"}',                                            # not hex
    lambda t: t[:-3] + ('0' if t[-3] != '0' else '1') + '"}',            # wrong CRC
])
def test_damaged_checksum_member_is_detected(tmp_path, edit):
    p, _ = _seg(tmp_path)
    _restore_text(p, edit(_stored_text(p)))
    with pytest.raises(CorruptFileError, match="seg.mla"):
        MLArray.open(p)


def test_every_byte_flip_in_the_stored_metadata_is_detected(tmp_path):
    """Flip each byte of the compressed mla.meta entry (after its chunk header) in a real file."""
    p, _ = _seg(tmp_path)
    lo, _ = frame_regions(p)["trailer"]
    data = p.read_bytes()
    at = data.index(b"\xa8mla.meta\xd2", lo) + 10
    entry = lo + struct.unpack(">i", data[at:at + 4])[0]
    assert data[entry] == 0xC6
    length = struct.unpack(">i", data[entry + 1:entry + 5])[0]
    payload = range(entry + 5 + 32, entry + 5 + length)
    files = []
    for i in payload:
        bad = bytearray(data)
        bad[i] ^= 0x04
        f = tmp_path / f"flip{i}.mla"
        f.write_bytes(bytes(bad))
        files.append(str(f))
    child = ("import json, sys\n"
             "from mlarray import MLArray, MLArrayError\n"
             "want = json.dumps(MLArray.open(sys.argv[1]).meta.to_mapping(), sort_keys=True)\n"
             "silent = []\n"
             "for f in sys.argv[2:]:\n"
             "    try:\n"
             "        got = json.dumps(MLArray.open(f).meta.to_mapping(), sort_keys=True)\n"
             "    except MLArrayError:\n"
             "        continue\n"
             "    if got != want:\n"
             "        silent.append(f)\n"
             "print(json.dumps(silent))\n")
    run = subprocess.run([sys.executable, "-c", child, str(p), *files], capture_output=True, text=True,
                         env=subprocess_env(), timeout=300)
    assert run.returncode == 0, run.stderr[-800:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
    assert len(files) > 100


def test_in_place_metadata_edits_keep_the_seal_right(tmp_path):
    p, arr = _seg(tmp_path)
    img = MLArray.open(p, mmap_mode="r+")
    img.spacing = (1.0, 1.0, 3.0)
    img.meta.extra["note"] = "edited in place"
    img.close()
    _assert_sealed(p)
    back = MLArray.open(p, verify=True)
    assert back.spacing == [1.0, 1.0, 3.0] and back.meta.extra["note"] == "edited in place"
    img = MLArray.open(p, mmap_mode="r+")
    img[0:2, 0:4, 0:4] = 4  # region writes: checksums and levels are rebuilt by close()
    img.close()
    _assert_sealed(p)
    assert (MLArray.load(p).to_numpy()[0:2, 0:4, 0:4] == 4).all()


def test_interrupted_region_writes_leave_a_readable_file(tmp_path):
    # the first region write drops the chunk checksums; the metadata must say so first, or a
    # writer killed before close() would leave metadata promising checksums that are gone
    p, arr = _seg(tmp_path)
    img = MLArray.open(p, mmap_mode="r+")
    img[0:1] = 3
    _assert_sealed(p, chunk_checksums=False)
    assert "mla.checksums" not in open_base(p).vlmeta
    assert (MLArray.load(p).to_numpy()[0] == 3).all()  # a reader meanwhile (or after a kill) reads it
    assert any(x.field == "checksums" and x.severity == "warning" for x in mlarray.validate(p))
    img.close()
    _assert_sealed(p, chunk_checksums=True)


def test_files_without_the_seal_still_open(tmp_path):
    p, arr = _seg(tmp_path)
    meta = read_meta_json(p)
    write_meta_json(p, meta)  # plain JSON, as written before the seal existed
    assert "checksum" not in json.loads(_stored_text(p))
    np.testing.assert_array_equal(MLArray.load(p).to_numpy(), arr)
    assert MLArray.open(p).spacing == [1.0, 1.0, 2.5]


def test_seal_is_valid_json_for_any_document():
    from mlarray._file.seal import seal, unseal

    for doc in ({}, {"format_version": 1}, {"extra": {"checksum": "crc32:00000000"}}):
        text = seal(json.dumps(doc, separators=(",", ":")), chunk_checksums=False)
        assert unseal(text, json.loads(text), "x.mla") == (doc, False)


def _rename_checksum_entry(p) -> None:
    """Flip one letter of the entry name 'mla.checksums' in the trailer index ('checksums' -> 'checks9ms')."""
    lo, _ = frame_regions(p)["trailer"]
    data = bytearray(p.read_bytes())
    at = data.index(b"\xadmla.checksums", lo)
    data[at + 11] = ord("9")
    p.write_bytes(bytes(data))


def _flip_chunk_byte(p) -> None:
    reg = frame_regions(p)
    lo, hi = reg["chunk_spans"][0]
    data = bytearray(p.read_bytes())
    data[(lo + hi) // 2] ^= 0xA9
    p.write_bytes(bytes(data))


def test_renamed_checksum_entry_does_not_switch_verification_off(tmp_path):
    # regression: fuzz case 6236 (seed 0): 'mla.checksums' -> 'mla.checks9ms' in the trailer index plus a
    # flipped byte in the chunk data. The file then looked as if written without chunk checksums, and
    # Blosc2 decoded the damaged chunk to wrong labels without an error.
    p, arr = _seg(tmp_path)
    _rename_checksum_entry(p)
    _flip_chunk_byte(p)
    for read in (lambda: MLArray.open(p)[...], lambda: MLArray.load(p)):
        with pytest.raises(CorruptFileError, match="seg.mla: the metadata records chunk checksums but the entry "
                                                   "'mla.checksums' is missing"):
            read()
    assert [x for x in mlarray.validate(p) if x.severity == "error"]


def test_renamed_checksum_entry_alone_is_reported(tmp_path):
    p, _ = _seg(tmp_path)
    _rename_checksum_entry(p)
    with pytest.raises(CorruptFileError, match="'mla.checksums' is missing"):
        MLArray.open(p, verify=True)
    assert MLArray.open(p, verify=False).meta.is_seg  # the caller may still opt out of verification


def test_stored_document_validates_against_the_schema(tmp_path):
    import jsonschema

    from mlarray._metadata.schema import json_schema

    p, _ = _seg(tmp_path)
    jsonschema.validate(json.loads(_stored_text(p)), json_schema())
    assert Path(p).exists()
