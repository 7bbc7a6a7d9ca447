"""`mlarray validate` reads each file in a child process: a crash in C is reported, not fatal."""

import os

import numpy as np

from mlarray import MLArray, validate
from mlarray.cli import main


def test_isolated_validate_reports_what_inline_validate_reports(tmp_path):
    p = tmp_path / "ok.mla"
    MLArray(np.zeros((4, 5), np.float32), spacing=(1, 1)).save(p)
    assert validate(p, isolated=True) == validate(p)
    bad = tmp_path / "bad.mla"
    bad.write_bytes(b"\x89MLA\r\n\x1a\n" + (10**6).to_bytes(8, "little"))
    problems = validate(bad, isolated=True)
    assert problems[0].severity == "error" and "outside" in problems[0].message


def test_a_crashing_reader_becomes_an_error(tmp_path, monkeypatch, capsys):
    import mlarray._metadata.validate as v

    # Stand in for a C-level crash: the child kills itself with SIGSEGV before reading.
    monkeypatch.setattr(v, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    p = tmp_path / "x.mla"
    MLArray(np.zeros(3, np.uint8)).save(p)
    assert main(["validate", str(p)]) == 1
    out = capsys.readouterr().out
    assert "crashed the Blosc2 library (SIGSEGV)" in out


def test_real_file_that_crashes_blosc2_is_reported(tmp_path, capsys):
    # Fuzz case 9293 (docs/reliability.md): four flipped trailer bytes in a metadata-only file make
    # C-Blosc2 segfault while reading vlmeta. Whatever a future Blosc2 does with it, validate must
    # survive and report an error.
    from pathlib import Path

    p = Path(__file__).parent / "data" / "reliability" / "trailer_flip_segfaults_blosc2.mla"
    problems = validate(p, isolated=True)
    assert problems and problems[0].severity == "error"
    assert main(["validate", str(p)]) == 1


def test_validate_and_convert_agree_on_a_damaged_file(tmp_path, capsys):
    # issue 22 item 4: validate reported the checksum mismatch while convert wrote the wrong voxels and said ok
    import struct

    import blosc2

    p = tmp_path / "noise.mla"
    MLArray(np.random.default_rng(0).integers(0, 256, (64, 64, 64), dtype=np.uint8)).save(p)
    data = bytearray(p.read_bytes())
    base = struct.unpack("<Q", data[8:16])[0]
    raw = blosc2.open(str(p), mode="r", offset=base).schunk.get_chunk(0)
    mid = bytes(data).find(raw, base) + len(raw) // 2  # noise is stored as is: a flip decodes silently
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    p.write_bytes(bytes(data))
    assert main(["validate", str(p)]) == 1
    assert "checksum" in capsys.readouterr().out
    for out in ("o.nii.gz", "o.mla"):
        assert main(["convert", "-q", str(p), str(tmp_path / out)]) == 1
        assert "CorruptFileError" in capsys.readouterr().err
        assert not (tmp_path / out).exists()


def test_validate_of_another_format_says_to_convert_it_as_info_does(tmp_path, capsys):
    """A trial user's `mlarray validate x.nii` advised 'rename the target ... or restore a backup'."""
    from nibabel.testing import data_path

    from mlarray.cli import main

    src = os.path.join(data_path, "anatomical.nii")
    assert main(["validate", src]) == 1
    err = capsys.readouterr().err
    assert f"convert it first: mlarray convert {src} OUT.mla" in err and "rename" not in err
