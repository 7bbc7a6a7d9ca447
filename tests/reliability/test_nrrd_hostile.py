"""Hostile NRRD headers: no file outside the header's folder is read, compressed data is inflated
only to the declared size, and valid detached layouts keep working (issue 12, item 1)."""

import bz2
import gzip
import os
import tracemalloc

import nrrd
import numpy as np
import pytest

from mlarray import LimitExceededError, MLArray
from mlarray.cli import main as cli_main
from mlarray.convert import ConversionError, read_any

DATA = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)


def _nhdr(folder, name, data_file, sizes=(4, 5, 6), type_="short", encoding="raw", extra=""):
    path = folder / name
    path.write_text(f"NRRD0004\ntype: {type_}\ndimension: {len(sizes)}\nsizes: {' '.join(map(str, sizes))}\n"
                    f"endian: little\nencoding: {encoding}\n{extra}data file: {data_file}\n\n")
    return path


@pytest.fixture
def secret(tmp_path):
    """A file outside the upload folder, holding exactly as many bytes as the header asks for."""
    outside = tmp_path / "private"
    outside.mkdir()
    p = outside / "secret.bin"
    p.write_bytes(b"TOP-SECRET" * 24)  # 240 bytes = 4*5*6 int16
    upload = tmp_path / "upload"
    upload.mkdir()
    return p, upload


def test_a_trusted_header_may_name_a_data_file_elsewhere_through_the_documented_switch(secret):
    """The remedy every converter's refusal names (mlarray.limits) applies to NRRD as well."""
    from mlarray import limits

    target, upload = secret
    target.write_bytes(DATA.tobytes())
    hdr = _nhdr(upload, "scan.nhdr", "../private/secret.bin")
    with pytest.raises(ConversionError, match="allow_outside_files"):
        read_any(hdr)
    with limits(allow_outside_files=1):
        record = read_any(hdr)
    (upload / "inside.raw").write_bytes(DATA.tobytes())  # the same bytes laid out the usual way
    usual = read_any(_nhdr(upload, "usual.nhdr", "inside.raw"))
    np.testing.assert_array_equal(np.asarray(record.array), np.asarray(usual.array))


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_data_file_outside_the_folder_is_refused(secret, how, tmp_path):
    target, upload = secret
    if how == "absolute":
        ref = str(target)
    elif how == "dotdot":
        ref = "../private/secret.bin"
    else:
        (upload / "innocent.raw").symlink_to(target)
        ref = "innocent.raw"
    hdr = _nhdr(upload, "scan.nhdr", ref)
    with pytest.raises(ConversionError, match="outside its folder"):
        read_any(hdr)
    # the path a converting service takes: one error line, exit code 1, no output file
    out = tmp_path / "out.mla"
    assert cli_main(["convert", str(hdr), str(out)]) == 1
    assert not out.exists()


def test_etc_passwd_is_not_disclosed(tmp_path):
    hdr = _nhdr(tmp_path, "x.nhdr", "/etc/passwd", sizes=(16,), type_="uchar")
    with pytest.raises(ConversionError, match="outside"):
        read_any(hdr)


def test_devices_and_fifos_are_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe.raw")  # opening a FIFO would block the converter forever
    with pytest.raises(ConversionError, match="not a regular file"):
        read_any(_nhdr(tmp_path, "a.nhdr", "pipe.raw"))
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConversionError, match="not a regular file"):
        read_any(_nhdr(tmp_path, "b.nhdr", "sub"))
    with pytest.raises(ConversionError, match="outside"):
        read_any(_nhdr(tmp_path, "c.nhdr", "/dev/zero"))


def test_missing_data_file_says_so(tmp_path):
    with pytest.raises(ConversionError, match="missing"):
        read_any(_nhdr(tmp_path, "a.nhdr", "nothing.raw"))


@pytest.mark.parametrize("layout", ["pynrrd", "subfolder", "absolute_inside", "gzip", "bzip2", "line_skip"])
def test_valid_detached_layouts_still_read(tmp_path, layout):
    folder = tmp_path
    raw = DATA.tobytes(order="F")
    if layout == "pynrrd":
        hdr = tmp_path / "a.nhdr"
        nrrd.write(str(hdr), DATA, {"encoding": "gzip"}, detached_header=True)
    elif layout == "subfolder":
        (folder / "data").mkdir()
        (folder / "data" / "a.raw").write_bytes(raw)
        hdr = _nhdr(folder, "a.nhdr", "data/a.raw")
    elif layout == "absolute_inside":
        (folder / "a.raw").write_bytes(raw)
        hdr = _nhdr(folder, "a.nhdr", str(folder / "a.raw"))
    elif layout == "gzip":
        (folder / "a.raw.gz").write_bytes(gzip.compress(raw))
        hdr = _nhdr(folder, "a.nhdr", "a.raw.gz", encoding="gzip")
    elif layout == "bzip2":
        (folder / "a.raw.bz2").write_bytes(bz2.compress(raw))
        hdr = _nhdr(folder, "a.nhdr", "a.raw.bz2", encoding="bzip2")
    else:
        (folder / "a.raw").write_bytes(b"# a comment line\n" + raw)
        hdr = _nhdr(folder, "a.nhdr", "a.raw", extra="line skip: 1\n")
    rec = read_any(hdr)
    np.testing.assert_array_equal(rec.array, DATA)
    out = tmp_path / "a.mla"
    assert cli_main(["convert", str(hdr), str(out)]) == 0
    np.testing.assert_array_equal(MLArray.open(out).to_numpy(), DATA)


@pytest.mark.parametrize("encoding", ["gzip", "bzip2"])
def test_byte_skip_minus_one_takes_the_last_bytes_of_the_stream(tmp_path, encoding):
    stream = b"some prefix of any length" + DATA.tobytes(order="F")
    pack = gzip.compress if encoding == "gzip" else bz2.compress
    (tmp_path / "a.z").write_bytes(pack(stream))
    rec = read_any(_nhdr(tmp_path, "a.nhdr", "a.z", encoding=encoding, extra="byte skip: -1\n"))
    np.testing.assert_array_equal(rec.array, DATA)


@pytest.mark.parametrize("encoding", ["gzip", "bzip2"])
def test_decompression_bomb_stops_at_the_declared_size(tmp_path, encoding):
    pack = gzip.compress if encoding == "gzip" else bz2.compress
    bomb = pack(bytes(256 * 2**20))  # 256 MiB of zeros in a few hundred KB
    (tmp_path / "bomb.z").write_bytes(bomb)
    hdr = _nhdr(tmp_path, "bomb.nhdr", "bomb.z", sizes=(64, 64, 64), type_="uchar", encoding=encoding)
    tracemalloc.start()
    try:
        with pytest.raises(ConversionError, match="inflates to more than"):
            read_any(hdr)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"inflating a bomb allocated {peak / 2**20:.0f} MiB"


def test_attached_gzip_bomb_is_bounded_too(tmp_path):
    path = tmp_path / "bomb.nrrd"
    head = b"NRRD0004\ntype: uchar\ndimension: 1\nsizes: 10\nencoding: gzip\n\n"
    path.write_bytes(head + gzip.compress(bytes(64 * 2**20)))
    with pytest.raises(ConversionError, match="inflates to more than"):
        read_any(path)


def test_declared_size_beyond_memory_is_refused_before_reading(tmp_path):
    (tmp_path / "a.raw").write_bytes(b"\0" * 16)
    hdr = _nhdr(tmp_path, "a.nhdr", "a.raw", sizes=(100000, 100000, 100000), type_="double")
    with pytest.raises(LimitExceededError, match=r"declares .* GiB of voxels, more than the .* of memory available"):
        read_any(hdr)


def test_raw_file_far_larger_than_declared_is_refused_unread(tmp_path):
    big = tmp_path / "a.raw"
    with open(big, "wb") as fh:  # sparse: 8 GiB on paper, nothing on disk
        fh.truncate(8 * 2**30)
    with pytest.raises(ConversionError, match="holds .* bytes where the header declares 240"):
        read_any(_nhdr(tmp_path, "a.nhdr", "a.raw"))
