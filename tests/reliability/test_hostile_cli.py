"""The command line with hostile files (issue 12, items 4, 5, 7): one escaped error line and exit 1
for every failure a file causes, no terminal escape sequences from metadata, resumable batches."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mlarray import MLArray
from mlarray.cli import main
from stress import hostile
from stress._common import subprocess_env


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mlarray.cli", *map(str, args)], capture_output=True, text=True,
                          env=subprocess_env(), timeout=300, cwd=cwd)


def test_info_on_a_nifti_prints_one_line_not_a_traceback(tmp_path):
    """Issue 12, item 4: `mlarray info foo.nii.gz` printed a Python traceback."""
    p = tmp_path / "foo.nii.gz"
    p.write_bytes(b"\x1f\x8b not really")
    r = _cli("info", p)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"mlarray info: {p}: not an .mla file; convert it first: "
                                             f"mlarray convert {p} OUT.mla"]


@pytest.mark.parametrize("name", ["meta_classes", "meta_levels", "legacy_build", "legacy_huge_int", "meta_deep",
                                  "huge_declared_array"])
def test_info_failures_are_one_line_with_exit_code_1(tmp_path, name):
    kw = {"meta_classes": {"n": 200_000}, "meta_levels": {"n": 100}, "meta_deep": {"n": 10_000}}.get(name, {})
    case = hostile.BUILDERS[name](tmp_path, **kw)
    r = _cli("info", case.path, tmp_path / "missing.mla")
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr and r.returncode == 1
    if name == "huge_declared_array":  # valid: described without reading a voxel
        assert "1048576 x 1048576" in r.stdout and len(lines) == 1
    else:
        assert len(lines) == 2 and lines[0].startswith("mlarray info: ") and os.path.basename(case.path) in lines[0]
    assert lines[-1] == f"mlarray info: {tmp_path / 'missing.mla'}: no MLArray file exists at this path; check the path"


def test_metadata_strings_cannot_drive_the_terminal(tmp_path, capsys):
    """Issue 12, item 5: writer / coord_system / class names / source_format printed raw."""
    case = hostile.meta_terminal(tmp_path)
    assert main(["info", case.path]) == 0
    out = capsys.readouterr().out
    for c in ("\x1b", "\x00", "\x07", "\x9b", "\r", "\u202e"):
        assert c not in out, repr(c)
    assert "\\x1b]0;PWNED\\x07" in out and "RAS\\x00" in out and "\\u202e" in out and "\\x9b31m" in out
    assert main(["info", "--json", case.path]) == 0  # JSON escapes them itself
    out = capsys.readouterr().out
    assert "\x1b" not in out and json.loads(out)["meta"]["writer"].startswith("mlarray\x1b]0;PWNED")


def test_file_names_with_control_characters_are_escaped(tmp_path, capsys):
    p = tmp_path / "evil\x1b[2J\nname.mla"
    MLArray(np.zeros((4, 4), np.uint8)).save(p)
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "evil\\x1b[2J\\nname.mla" in out
    assert main(["info", str(tmp_path / "gone\x1b]0;x\x07.mla")]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.strip().splitlines()) == 1


def _sources(folder, n=3):
    import nibabel as nib

    folder.mkdir()
    for i in range(n):
        nib.save(nib.Nifti1Image(np.full((8, 8, 4), i, np.int16), np.eye(4)), folder / f"c{i}.nii.gz")
    return folder


def test_batch_conversion_resumes_and_says_what_it_skipped(tmp_path):
    """Issue 12, item 7: an existing output was silently overwritten; a stopped batch started over."""
    src, out = _sources(tmp_path / "src"), tmp_path / "out"
    r = _cli("convert", src, out)
    assert r.returncode == 0 and sorted(os.listdir(out)) == ["c0.mla", "c1.mla", "c2.mla"]
    mtimes = {f: os.stat(out / f).st_mtime_ns for f in os.listdir(out)}
    os.unlink(out / "c1.mla")  # as if the batch had stopped before c1
    r = _cli("convert", src, out)
    assert r.returncode == 0, r.stderr
    assert f"skipped {src / 'c0.nii.gz'}: {out / 'c0.mla'} exists and is valid" in r.stderr
    assert "converted 1 of 3 file(s); skipped 2 whose output exists and is valid (--overwrite" in r.stderr
    assert os.stat(out / "c0.mla").st_mtime_ns == mtimes["c0.mla"] and (out / "c1.mla").exists()
    r = _cli("convert", "--overwrite", src, out)
    assert r.returncode == 0 and "converted 3 of 3 file(s)" in r.stderr
    assert os.stat(out / "c0.mla").st_mtime_ns != mtimes["c0.mla"]


def test_damaged_existing_output_is_reported_not_replaced(tmp_path):
    src, out = _sources(tmp_path / "src", 2), tmp_path / "out"
    assert _cli("convert", src, out).returncode == 0
    data = bytearray((out / "c0.mla").read_bytes())
    data[len(data) // 3] ^= 0xFF  # a flipped byte in a chunk: the checksum catches it
    (out / "c0.mla").write_bytes(bytes(data))
    r = _cli("convert", src, out)
    assert r.returncode == 1
    assert f"failed: {src / 'c0.nii.gz'}: the output {out / 'c0.mla'} exists but is not valid" in r.stderr
    assert "pass --overwrite to replace it" in r.stderr and (out / "c0.mla").read_bytes() == bytes(data)
    assert _cli("convert", "--overwrite", src, out).returncode == 0
    MLArray.open(out / "c0.mla", verify=True).close()


def test_single_file_conversion_keeps_an_existing_valid_output(tmp_path):
    src = _sources(tmp_path / "src", 1) / "c0.nii.gz"
    dst = tmp_path / "c0.mla"
    assert _cli("convert", src, dst).returncode == 0
    before = dst.stat().st_mtime_ns
    r = _cli("convert", src, dst)
    assert r.returncode == 0 and "exists and is valid" in r.stderr and dst.stat().st_mtime_ns == before


def test_back_conversion_outputs_are_checked_with_their_library(tmp_path):
    src = tmp_path / "a.mla"
    MLArray(np.zeros((4, 4, 4), np.uint8)).save(src)
    dst = tmp_path / "a.nii.gz"
    assert _cli("convert", src, dst).returncode == 0
    assert "exists and is valid" in _cli("convert", src, dst).stderr
    dst.write_bytes(b"not a nifti")
    r = _cli("convert", src, dst)
    assert r.returncode == 1 and "exists but is not valid" in r.stderr


@pytest.mark.parametrize("name", ["a.mha", "a.mhd", "a.mgz", "a.ome.zarr"])
def test_outputs_of_the_other_formats_are_checked_before_they_are_skipped(tmp_path, name):
    from mlarray.cli import main as cli_main

    src, dst = tmp_path / "a.mla", tmp_path / name
    MLArray(np.ones((4, 4, 4), np.uint8)).save(src)
    assert cli_main(["convert", "-q", str(src), str(dst)]) == 0
    assert cli_main(["convert", "-q", str(src), str(dst)]) == 0  # skipped: exists and is valid
    if name == "a.mhd":  # a header without its data file is not a complete output
        next(tmp_path.glob("a.*raw")).unlink()
    elif name == "a.ome.zarr":
        for meta in dst.glob("zarr.json"):
            meta.write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    else:
        dst.write_bytes(b"damaged")
    assert cli_main(["convert", "-q", str(src), str(dst)]) == 1  # reported, not replaced
    assert cli_main(["convert", "-q", "--overwrite", str(src), str(dst)]) == 0


def test_an_error_quoting_a_crafted_value_stays_one_readable_line(tmp_path):
    """Found by stress/fuzz_struct.py (case 2568): spatial.shape with 100,000 entries made `info` print
    a 300 KB error line."""
    from stress._common import read_meta_json, write_meta_json

    p = tmp_path / "a.mla"
    MLArray(np.zeros((4, 4), np.uint8)).save(p)
    doc = read_meta_json(p)
    doc["spatial"]["shape"] = [1] * 100_000
    write_meta_json(p, doc)
    r = _cli("info", p)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and len(lines[0]) < 2200 and "more characters)" in lines[0]
