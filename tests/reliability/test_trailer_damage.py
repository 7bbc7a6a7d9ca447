"""Damaged frame trailers (vlmeta): an MLArrayError, never a crash of C-Blosc2 (docs/reliability.md)."""

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _common import frame_regions, subprocess_env
from mlarray import Meta, MLArray

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "reliability" / "trailer_flip_segfaults_blosc2.mla"
_OPEN = ("import sys\n"
         "from mlarray import MLArray, MLArrayError\n"
         "try:\n"
         "    img = MLArray.open(sys.argv[1])\n"
         "    img.meta; img.levels and img[...]\n"
         "    print('OPENED')\n"
         "except MLArrayError as exc:\n"
         "    print('MLArrayError:', exc)\n")


def _open_in_child(path) -> str:
    """Open ``path`` in a fresh process (a crash in C must not take the test runner down)."""
    run = subprocess.run([sys.executable, "-c", _OPEN, str(path)], capture_output=True, text=True,
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

    from mlarray._container import base_offset
    from mlarray._frame_check import check_vlmeta_entries

    p = tmp_path / "ok.mla"
    MLArray(np.zeros((600, 30), np.float32), meta=Meta(extra={"x": "y" * 5000})).save(p)
    off = base_offset(str(p))
    check_vlmeta_entries(str(p), off)
    assert timeit.timeit(lambda: check_vlmeta_entries(str(p), off), number=200) / 200 < 1e-3
