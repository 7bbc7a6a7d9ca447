"""Converter inputs from strangers (issue 12, items 1 and 6): no file outside the input's folder is
read (OME-TIFF references, DICOM symlinks, anything a format library opens), devices and FIFOs never
hang a conversion, declared sizes and compressed streams are bounded before decoding."""

import os
import threading

import numpy as np
import pytest

from mlarray import LimitExceededError, MLArray, limits
from mlarray.cli import main as cli_main
from mlarray.convert import ConversionError, read_any
from stress import hostile
from stress.isolate import run_isolated


def _convert(src, tmp_path):
    out = tmp_path / "out.mla"
    rc = cli_main(["convert", "-q", str(src), str(out)])
    return rc, out


def _secret_in(out) -> bool:
    img = MLArray.open(out)
    return hostile.SECRET[:16] in img.to_numpy().tobytes()


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_ome_tiff_reference_outside_the_folder_is_refused(tmp_path, how):
    """tifffile follows <UUID FileName="../private/secret.ome.tif"> and returns that file's pixels as a
    plane of the image; before this change `mlarray convert` stored them."""
    import tifffile

    case = hostile.ome_outside_ref(tmp_path, how)
    with tifffile.TiffFile(case.path) as tif:  # the library alone discloses the other file
        assert hostile.SECRET[:16] in tif.series[0].asarray().tobytes()
    with pytest.raises(ConversionError, match=r"secret.ome.tif(\)|), which is outside its folder"):
        read_any(case.path)
    rc, out = _convert(case.path, tmp_path)
    assert rc == 1 and not out.exists()


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "list", "pattern", "fifo"])
def test_metaimage_data_file_outside_the_folder_is_refused(tmp_path, how):
    """ITK reads a .mhd's ElementDataFile in C++, where the audit-hook tripwire sees nothing: before
    this check `mlarray convert` stored the named file's bytes as the image."""
    case = hostile.metaimage_outside_ref(tmp_path, how)
    with pytest.raises(ConversionError, match="outside its folder" if how != "fifo" else "not a regular file"):
        read_any(case.path)
    rc, out = _convert(case.path, tmp_path)
    assert rc == 1 and not out.exists()


@pytest.mark.parametrize("ndims", ["-1", "2147483648", "0"])
def test_metaimage_ndims_itk_never_returns_on_is_refused(tmp_path, ndims):
    """ITK's MetaIO loops without end on NDims -1 or 2^31 (found by stress/fuzz_struct.py)."""
    case = hostile.metaimage_outside_ref(tmp_path, "inside")
    text = open(case.path).read().replace("NDims = 2", f"NDims = {ndims}")
    open(case.path, "w").write(text)
    res = run_isolated(case.path, ["convert"], "any", mem_mb=1536, timeout=60)
    assert res["verdict"] == "ok" and "its NDims is" in res["ops"]["convert"]["value"]["stderr"], res


def test_metaimage_with_its_data_file_beside_it_converts(tmp_path):
    case = hostile.metaimage_outside_ref(tmp_path, "inside")
    rc, out = _convert(case.path, tmp_path)
    assert rc == 0 and MLArray.open(out).shape == (16, 16)
    (tmp_path / "t").mkdir()
    with limits(allow_outside_files=1):  # the documented way to trust a folder of references
        assert read_any(hostile.metaimage_outside_ref(tmp_path / "t", "dotdot").path).array.tobytes() == \
            hostile.SECRET[:256]


def test_ome_tiff_reference_to_a_fifo_does_not_hang(tmp_path):
    case = hostile.ome_outside_ref(tmp_path, "fifo")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", _try(read_any, case.path)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "opening the FIFO blocked the converter"
    assert isinstance(result["r"], ConversionError) and "not a regular file" in str(result["r"])


def _try(fn, *a):
    try:
        return fn(*a)
    except Exception as exc:  # noqa: BLE001
        return exc


def test_multi_file_ome_tiff_inside_its_folder_still_converts(tmp_path):
    import tifffile

    uuids = [f"urn:uuid:00000000-0000-0000-0000-00000000001{i}" for i in (1, 2)]
    xml = hostile._ome_xml(["a.ome.tif", "b.ome.tif"], uuids)
    tifffile.imwrite(tmp_path / "a.ome.tif", np.full((16, 16), 1, np.uint8), description=xml, metadata=None)
    tifffile.imwrite(tmp_path / "b.ome.tif", np.full((16, 16), 2, np.uint8))
    rec = read_any(tmp_path / "a.ome.tif")
    assert rec.array.shape == (2, 16, 16) and rec.array[1].max() == 2


def test_dicom_symlink_outside_the_folder_is_refused(tmp_path):
    case = hostile.dicom_symlink_outside(tmp_path)
    with pytest.raises(ConversionError, match=r"s3.dcm \(-> .*private/other.dcm\), which is outside its folder"):
        read_any(case.path)
    rc, out = _convert(case.path, tmp_path)
    assert rc == 1 and not out.exists()
    with limits(allow_outside_files=1):  # a trusted folder of links into one's own archive
        assert read_any(case.path).array.shape == (4, 8, 8)


def test_symlinked_inputs_chosen_by_the_user_are_fine(tmp_path):
    """The guard is about files an input *names*: a symlink the user passes (to a folder or a file) is
    followed, and so are the files inside the folder it resolves to."""
    d = tmp_path / "store" / "series"
    d.mkdir(parents=True)
    for z in range(3):
        hostile._dicom_slice(d / f"s{z}.dcm", 8, 8, float(z))
    (tmp_path / "link").symlink_to(d)
    assert read_any(tmp_path / "link").array.shape == (3, 8, 8)
    import nrrd

    nrrd.write(str(tmp_path / "store" / "a.nrrd"), np.zeros((4, 4), np.uint8))
    (tmp_path / "a.nrrd").symlink_to(tmp_path / "store" / "a.nrrd")
    assert read_any(tmp_path / "a.nrrd").array.shape == (4, 4)


def test_dicom_fifo_and_device_links_are_skipped_without_hanging(tmp_path):
    case = hostile.dicom_fifo_and_device(tmp_path)
    res = run_isolated(case.path, ["convert"], "ok", mem_mb=2048, timeout=120)
    assert res["verdict"] == "ok", res


def test_dicom_series_with_mismatched_slice_shapes(tmp_path):
    case = hostile.dicom_mismatched(tmp_path)
    with pytest.raises(ConversionError, match="different sizes"):
        read_any(case.path)


@pytest.mark.parametrize("value,single", [(0, False), (2, True)])
def test_dicom_samples_per_pixel_gdcm_aborts_on_is_refused_first(tmp_path, value, single):
    """GDCM, the fallback decoder, aborted the whole process on SamplesPerPixel 0 (a C++ exception)."""
    case = hostile.dicom_samples_per_pixel(tmp_path, value)
    path = os.path.join(case.path, "s1.dcm") if single else case.path
    res = run_isolated(path, ["convert"], "corrupt", mem_mb=1536, timeout=120)
    assert res["verdict"] == "ok", res
    assert "SamplesPerPixel is" in res["ops"]["convert"]["value"]["stderr"], res


def test_dicom_deflate_bomb_is_bounded(tmp_path):
    case = hostile.dicom_deflate_bomb(tmp_path, rows=2048, frames=2)  # 16 MiB from ~17 KB
    assert os.path.getsize(case.path) < 64 * 1024
    with limits(max_read_bytes=8 << 20):
        with pytest.raises(LimitExceededError, match="deflated dataset inflates to more than"):
            read_any(case.path)
    res = run_isolated(case.path, ["convert"], "limit", env={"MLARRAY_MAX_READ_BYTES": str(8 << 20)},
                       mem_mb=1024, timeout=120)
    assert res["verdict"] == "ok" and res["peak_mb"] < 300, res


def test_dicom_declaring_terabytes_is_refused_before_decoding(tmp_path):
    case = hostile.dicom_declared_huge(tmp_path)
    with pytest.raises(LimitExceededError, match=r"declares .* GiB of voxels"):
        read_any(case.path)


def test_nifti_declaring_terabytes_is_refused_before_reading(tmp_path):
    case = hostile.nifti_declared_huge(tmp_path)
    with pytest.raises(LimitExceededError, match=r"declares 512.00 GiB"):
        read_any(case.path)


def test_nifti_gzip_bomb_after_the_voxels_is_never_inflated(tmp_path):
    """Issue 12, item 6: 256 MiB of zeros behind an 8x8x8 image in the gzip stream: nibabel reads the
    declared 512 bytes, so conversion stays small and fast."""
    case = hostile.nifti_gzip_bomb(tmp_path, nbytes=256 << 20)
    res = run_isolated(case.path, ["convert"], "ok", mem_mb=1536, timeout=120)
    assert res["verdict"] == "ok" and res["peak_mb"] < 400, res


def test_nifti_extension_bomb_is_refused_before_nibabel_reads_it(tmp_path):
    case = hostile.nifti_extension_bomb(tmp_path, nbytes=300 << 20)
    assert os.path.getsize(case.path) < 2 << 20
    res = run_isolated(case.path, ["convert"], "limit", mem_mb=1024, timeout=120)
    assert res["verdict"] == "ok" and res["peak_mb"] < 300, res
    with pytest.raises(LimitExceededError, match="NIfTI header and its extensions.*max_meta_bytes"):
        read_any(case.path)


def test_nifti_pair_image_file_linked_outside_is_refused(tmp_path):
    assert read_any(hostile.nifti_pair(tmp_path, "inside").path).array.shape == (4, 4, 4)
    case = hostile.nifti_pair(tmp_path, "symlink")
    with pytest.raises(ConversionError, match=r"secret.img, outside its folder"):
        read_any(case.path)


def test_tiff_declaring_a_terabyte_is_refused_before_decoding(tmp_path):
    case = hostile.tiff_declared_huge(tmp_path)
    assert os.path.getsize(case.path) < 1024
    res = run_isolated(case.path, ["convert"], "limit", mem_mb=1024, timeout=60)
    assert res["verdict"] == "ok", res


def test_tiff_with_many_pages_converts(tmp_path):
    case = hostile.tiff_pages(tmp_path, n=2_000)
    rc, out = _convert(case.path, tmp_path)
    assert rc == 0 and MLArray.open(out).shape == (2_000, 8, 8)


def test_tripwire_reports_a_reference_the_converter_did_not_check(tmp_path, monkeypatch):
    """Any open of a file outside the input's folder during read_any fails the conversion, even one a
    format library makes and then swallows (simulated: a reader that opens /etc/hostname and carries on)."""
    from mlarray import convert

    src = tmp_path / "a.nrrd"
    import nrrd

    nrrd.write(str(src), np.zeros((4, 4), np.uint8))

    def sneaky(fmt, path, **kw):
        try:
            open("/etc/hostname", "rb").close()
        except OSError:
            pass  # a library that treats a failed open as "optional file missing"
        return real(fmt, path, **kw)

    real = convert._read
    monkeypatch.setattr(convert, "_read", sneaky)
    with pytest.raises(ConversionError, match="tried to open /etc/hostname"):
        read_any(src)
    monkeypatch.setattr(convert, "_read", real)
    assert read_any(src).array.shape == (4, 4)  # the guard is gone after the read
    open("/etc/hostname", "rb").close()


def test_nrrd_line_skip_beyond_the_file_is_refused_at_once(tmp_path):
    """Found by stress/fuzz_struct.py: 'line skip: 99999999' made pynrrd call readline 10^8 times (> 90 s)."""
    (tmp_path / "a.raw").write_bytes(np.zeros(8, np.uint8).tobytes())
    hdr = tmp_path / "a.nhdr"
    hdr.write_text("NRRD0004\ntype: uchar\ndimension: 1\nsizes: 8\nencoding: raw\nline skip: 99999999\n"
                   "data file: a.raw\n\n")
    with pytest.raises(ConversionError, match="line skip: 99999999"):
        read_any(hdr)


def test_nrrd_byte_skip_cannot_lift_the_inflate_bound(tmp_path):
    import gzip

    (tmp_path / "a.gz").write_bytes(gzip.compress(bytes(32 << 20)))
    hdr = tmp_path / "a.nhdr"
    hdr.write_text("NRRD0004\ntype: uchar\ndimension: 1\nsizes: 8\nencoding: gzip\nbyte skip: 99999999999\n"
                   "data file: a.gz\n\n")
    with pytest.raises(LimitExceededError, match="byte skip"):
        read_any(hdr)


def test_ome_zarr_chunk_linked_outside_the_store_is_refused(tmp_path):
    """An OME-Zarr store is a folder of files; a chunk that is a symlink elsewhere is caught by the
    tripwire (zarr opens chunks from Python)."""
    from mlarray.convert import write_any

    rec = read_any(hostile.metaimage_outside_ref(tmp_path, "inside").path)
    rec.array[:] = 1  # all-zero chunks are not stored at all
    store = tmp_path / "up" / "img.ome.zarr"
    write_any(rec, store)
    chunk = store / "s0" / "c" / "0" / "0"
    assert chunk.is_file()
    chunk.unlink()
    chunk.symlink_to(tmp_path / "private" / "secret.raw")
    with pytest.raises(ConversionError, match="secret.raw\\), which is outside its folder"):
        read_any(store)
