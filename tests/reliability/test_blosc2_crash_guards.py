"""Chunk headers flagged "lazy" (vlmeta entries, data chunks): an MLArrayError, never a crash of C-Blosc2.

C-Blosc2 3.3.5 reads a lazy chunk's blocks (and dictionary) from a file offset stored in the chunk
itself; on a memory-mapped frame an offset outside the file makes it memcpy from NULL (SIGSEGV).
Stored chunks never carry the flag, so mlarray refuses it before C-Blosc2 decodes such a chunk.
"""

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlarray import Meta, MLArray, validate
from stress._common import drop_checksums, frame_regions, subprocess_env

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "reliability" / "trailer_flip_segfaults_blosc2.mla"
_OPEN = ("import sys\n"
         "from mlarray import MLArray, MLArrayError\n"
         "try:\n"
         "    img = {how}\n"
         "    if img.meta.has_array:\n"
         "        [level[...] for level in img.levels]  # the base and every pyramid level\n"
         "    print('OPENED')\n"
         "except MLArrayError as exc:\n"
         "    print('MLArrayError:', exc)\n")


def _open_in_child(path, how: str = "MLArray.open(sys.argv[1])") -> str:
    """Open ``path`` in a fresh process (a crash in C must not take the test runner down)."""
    run = subprocess.run([sys.executable, "-c", _OPEN.format(how=how), str(path)], capture_output=True, text=True,
                         env=subprocess_env(), timeout=120)
    assert run.returncode == 0, f"reader died with {run.returncode}: {run.stderr[-500:]}"
    return run.stdout


def _set_entry_flags(path, name: str, flags: int) -> None:
    """Overwrite byte 31 (blosc2_flags) of the chunk header of vlmeta entry ``name``.

    The trailer's index lists each entry as a msgpack fixstr name, 0xd2 and a big-endian int32
    offset from the trailer start, where the entry is 0xc6, its int32 length and a Blosc2 chunk.
    """
    lo, _ = frame_regions(path)["trailer"]
    data = bytearray(Path(path).read_bytes())
    key = bytes([0xA0 | len(name)]) + name.encode() + b"\xd2"
    at = data.index(key, lo) + len(key)
    entry = lo + struct.unpack(">i", data[at:at + 4])[0]
    assert data[entry] == 0xC6 and data[entry + 5] == 5  # bin32 marker, then chunk format version 5
    data[entry + 5 + 31] = flags
    Path(path).write_bytes(bytes(data))


def test_fixture_that_crashed_blosc2_is_a_corrupt_file_error():
    # fuzz case 9293: bit 3 ("lazy chunk") and bit 0 ("uses a dictionary") set in the mla.meta entry's
    # chunk header made C-Blosc2 read a dictionary from a file offset taken from the JSON text and
    # memcpy from the NULL buffer the mmap reader returned: SIGSEGV in every fresh process
    out = _open_in_child(FIXTURE)
    assert "MLArrayError:" in out and FIXTURE.name in out and "marked 'lazy'" in out


@pytest.mark.parametrize("entry", ["mla.meta", "mla.checksums"])
@pytest.mark.parametrize("flags", [0x09, 0x08, 0x8F, 0x19])
@pytest.mark.parametrize("kind", ["metadata-only", "array"])
def test_vlmeta_entry_flagged_lazy_is_refused_before_blosc2(tmp_path, kind, flags, entry):
    p = tmp_path / f"{kind} flags.mla"
    arr = None if kind == "metadata-only" else np.arange(600 * 20, dtype=np.uint16).reshape(600, 20)
    MLArray(arr, meta=Meta(extra={"label": 3})).save(p)  # the array has a pyramid level in front of the base
    _set_entry_flags(p, entry, flags)
    out = _open_in_child(p)
    assert "MLArrayError:" in out and p.name in out and "marked 'lazy'" in out


def test_pre_flight_accepts_intact_files_and_is_cheap(tmp_path):
    import timeit

    from mlarray._file.container import base_offset
    from mlarray._file.frame_check import check_vlmeta_entries

    p = tmp_path / "ok.mla"
    MLArray(np.zeros((600, 30), np.float32), meta=Meta(extra={"x": "y" * 5000})).save(p)
    off = base_offset(str(p))
    check_vlmeta_entries(str(p), off)
    assert timeit.timeit(lambda: check_vlmeta_entries(str(p), off), number=200) / 200 < 1e-3


@pytest.mark.parametrize("how", ["MLArray.open(sys.argv[1])", "MLArray.load(sys.argv[1])",
                                 "MLArray.open(sys.argv[1], verify=True)"])
def test_data_chunk_flagged_lazy_in_a_file_without_checksums_is_refused(tmp_path, how):
    # Files without chunk checksums (published 0.0.x files, interrupted r+ writes) have no CRC to catch
    # a damaged chunk header before C-Blosc2 decodes it; the header itself is checked instead.
    p = tmp_path / "nosums.mla"
    MLArray((np.arange(24 * 40 * 36) % 7).astype(np.uint8).reshape(24, 40, 36), chunk_size=(8, 40, 36),
            block_size=(4, 40, 36), patch_size=None).save(p)
    drop_checksums(p)
    lo, _ = frame_regions(p)["chunk_spans"][1]  # chunk 0 is already checked when the frame is opened
    data = bytearray(p.read_bytes())
    assert data[lo] == 5 and data[lo + 2] & 0x05 == 0x05  # an extended Blosc2 chunk header
    data[lo + 31] = 0x09  # "lazy" + "uses a dictionary": SIGSEGV in blosc2 3.3.5 without the guard
    p.write_bytes(bytes(data))
    out = _open_in_child(p, how)
    assert "MLArrayError:" in out and p.name in out
    if "open" in how:  # load reads through the unmapped frame, where C-Blosc2 fails cleanly by itself
        assert "flagged 'lazy'" in out
    problems = validate(p, isolated=True)  # in a child process: a crash would be reported as one
    assert not any("crashed" in x.message for x in problems)
    assert any(x.field == "checksums" for x in problems)  # without CRCs, chunk damage cannot be detected


# Chunk 0's header as found by fuzz case 5404 (10k run after the metadata seal): a flipped byte of the
# chunk index pointed into compressed data, where these bytes made C-Blosc2's frame_get_lazychunk read
# 13 MB past the end of a 149 kB file while *opening* it (not an extended header, "variable-length blocks").
_CASE_5404_HEADER = bytes.fromhex("00310105380133" "00fd01e30016fe6e0525ff007e0301b00904e00e14fea80504")
# an extended header that is well-formed except that 2**30 one-byte blocks cannot fit in its 100 bytes
_TOO_MANY_BLOCKS = bytes([5, 1, 0x05, 1]) + struct.pack("<iii", 2**30, 1, 100) + bytes(16)


def _point_chunk0_at_forged_header(path, frame: dict, header: bytes) -> None:
    """Write ``header`` into the middle of chunk 0's data and point the (uncompressed) chunk index at it."""
    data = bytearray(Path(path).read_bytes())
    lo, hi = frame["chunk_spans"][0]
    idx = frame["index"][0]
    assert data[idx + 2] & 0x02, "a one-chunk index is stored uncompressed"
    first = struct.unpack("<q", data[idx + 32:idx + 40])[0]
    target = (lo + hi) // 2
    data[target:target + 32] = header
    data[idx + 32:idx + 40] = struct.pack("<q", first + target - lo)
    Path(path).write_bytes(bytes(data))


@pytest.mark.parametrize("header", [_CASE_5404_HEADER, _TOO_MANY_BLOCKS], ids=["case5404", "too_many_blocks"])
def test_chunk_index_pointing_into_data_is_refused_before_opening(tmp_path, header):
    p = tmp_path / "index.mla"
    rng = np.random.default_rng(3)
    MLArray(rng.normal(0, 200, (20, 70, 66)).astype(np.int16)).save(p)  # one chunk, as in case 5404
    _point_chunk0_at_forged_header(p, frame_regions(p), header)
    out = _open_in_child(p)
    assert "MLArrayError:" in out and p.name in out and "chunk 0 of the Blosc2 frame at byte 16" in out


def test_damaged_level_chunk_index_is_refused_before_opening_the_level(tmp_path):
    p = tmp_path / "level index.mla"
    MLArray(np.random.default_rng(4).normal(0, 1, (600, 40)).astype(np.float32)).save(p)
    level = frame_regions(p)["levels"][0]
    _point_chunk0_at_forged_header(p, level, _CASE_5404_HEADER)
    out = _open_in_child(p, "MLArray.open(sys.argv[1], verify=False)")  # the level's own checks come first
    assert "MLArrayError:" in out and f"chunk 0 of the Blosc2 frame at byte {level['frame'][0]}" in out
