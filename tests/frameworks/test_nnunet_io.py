"""``mlarray.nnunet.MLArrayIO`` case by case against nnU-Net's own readers, and the look-up hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("nnunetv2", reason="install mlarray[nnunet]")
from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO  # noqa: E402

import mlarray.nnunet  # noqa: E402
from mlarray import Meta, MLArray, MLArrayError  # noqa: E402
from mlarray.nnunet import MLArrayIO, class_table_from_dataset_json  # noqa: E402


def test_converted_nifti_reads_as_simpleitkio_reads_the_source(volume):
    """``mlarray convert`` keeps nibabel's (x, y, z) axis order; MLArrayIO gives nnU-Net's NIfTI readers' (z, y, x),
    so a model trained on NIfTI predicts on .mla inputs untransposed; the prediction goes back in (x, y, z)."""
    ours, props = MLArrayIO().read_images([volume["ct_mla"]])
    ref, ref_props = SimpleITKIO().read_images([volume["ct_nii"]])
    assert ours.dtype == ref.dtype == np.float32 and ours.shape == ref.shape == (1, 14, 26, 22)
    assert np.array_equal(ours, ref)
    assert np.allclose(props["spacing"], ref_props["spacing"], atol=1e-6)
    seg, seg_props = MLArrayIO().read_seg(volume["seg_mla"])
    ref_seg, _ = SimpleITKIO().read_seg(volume["seg_nii"])
    assert np.array_equal(seg, ref_seg) and seg_props["spacing"] == props["spacing"]


def test_prediction_is_written_in_the_files_own_axis_order(tmp_path, volume):
    seg, props = MLArrayIO().read_seg(volume["seg_mla"])
    out = str(tmp_path / "pred.mla")
    MLArrayIO().write_seg(seg[0].astype(np.uint8), out, props)
    written, source = MLArray.open(out), MLArray.open(volume["seg_mla"])
    assert written.shape == source.shape == (22, 26, 14)
    assert np.array_equal(written.to_numpy(), source.to_numpy())
    assert np.allclose(written.affine, source.affine)


def _sitk_series_to_nifti(folder: str, out: str) -> str:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    sitk.WriteImage(reader.Execute(), out)
    return out


def test_dicom_converted_series_reads_as_simpleitkio(tmp_path):
    """pydicom's 5-slice CT series: converted by mlarray (z, y, x; LPS) and, for SimpleITKIO, by SimpleITK."""
    import pydicom

    from mlarray.cli import main as cli

    folder = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "dicomdirtests", "98892001", "CT5N")
    mla = str(tmp_path / "ct5.mla")
    assert cli(["convert", "-q", folder, mla]) == 0
    nii = _sitk_series_to_nifti(folder, str(tmp_path / "ct5.nii.gz"))
    ours, props = MLArrayIO().read_images([mla])
    ref, ref_props = SimpleITKIO().read_images([nii])
    assert ours.shape == ref.shape and ours.shape[1] == 5
    assert np.array_equal(ours, ref)
    assert np.allclose(props["spacing"], ref_props["spacing"], rtol=1e-5)


def test_numpy_created_file_reads_as_simpleitkio_reads_its_nifti_export(tmp_path):
    """A bare numpy array (no direction: world axes 0, 1, 2 = x, y, z, as mlarray's NIfTI writer stores it): MLArrayIO
    against SimpleITKIO on the NIfTI that `mlarray convert` exports, and the prediction back in the stored order."""
    from mlarray.cli import main as cli

    arr = np.random.default_rng(3).integers(0, 1000, size=(9, 11, 13)).astype(np.int16)
    mla, nii = str(tmp_path / "a.mla"), str(tmp_path / "a.nii.gz")
    MLArray(arr, spacing=(1.5, 0.75, 2.0)).save(mla)
    assert cli(["convert", "-q", mla, nii]) == 0
    ours, props = MLArrayIO().read_images([mla])
    ref, ref_props = SimpleITKIO().read_images([nii])
    assert ours.shape == ref.shape
    assert np.array_equal(ours, ref)
    assert np.allclose(props["spacing"], ref_props["spacing"], rtol=1e-5)
    assert ours.shape == (1, 13, 11, 9)
    out = str(tmp_path / "pred.mla")
    MLArrayIO().write_seg((ours[0] > 500).astype(np.uint8), out, props)
    assert np.array_equal(MLArray.open(out).to_numpy(), (arr > 500).astype(np.uint8))


def test_numpy_created_zyx_file_reads_as_simpleitkio_reads_itks_own_image(tmp_path):
    """Stored (z, y, x) in LPS, as numpy users write CT: SimpleITKIO on the same world data built the ITK way
    (index (x, y, z), its numpy view (z, y, x)) and saved as NIfTI."""
    import SimpleITK as sitk

    arr = np.random.default_rng(4).integers(0, 1000, size=(9, 11, 13)).astype(np.int16)
    direction = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])  # axis 0 -> S, 1 -> A, 2 -> L
    spacing, origin = (2.5, 0.75, 0.8), (10.0, -20.0, 30.0)
    mla, nii = str(tmp_path / "a.mla"), str(tmp_path / "a.nii.gz")
    MLArray(arr, spacing=spacing, origin=origin, direction=direction,
            meta=Meta(spatial={"coord_system": "LPS"})).save(mla)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing[::-1])
    img.SetOrigin(origin)
    img.SetDirection(direction[:, ::-1].flatten().tolist())
    sitk.WriteImage(img, nii)
    ours, props = MLArrayIO().read_images([mla])
    ref, ref_props = SimpleITKIO().read_images([nii])
    assert ours.shape == ref.shape == (1, 9, 11, 13) and np.array_equal(ours, ref)
    assert np.allclose(props["spacing"], ref_props["spacing"], rtol=1e-5)


def test_any_stored_order_comes_out_z_y_x(tmp_path):
    """Stored (y, z, x) with a flipped axis: transposed by the axes' world directions, never flipped."""
    arr = np.random.default_rng(5).normal(size=(6, 7, 8)).astype(np.float32)
    direction = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # RAS: axis 0 -> -A, 1 -> S, 2 -> R
    path = str(tmp_path / "yzx.mla")
    MLArray(arr, spacing=(1.0, 2.0, 3.0), direction=direction, meta=Meta(spatial={"coord_system": "RAS"})).save(path)
    data, props = MLArrayIO().read_images([path])
    assert np.array_equal(data[0], arr.transpose(1, 0, 2)) and props["spacing"] == [2.0, 1.0, 3.0]
    labelled = str(tmp_path / "labelled.mla")
    MLArray(arr, axis_labels=["spatial_y", "spatial_x", "spatial_z"]).save(labelled)
    assert np.array_equal(MLArrayIO().read_images([labelled])[0][0], arr.transpose(2, 0, 1))


def test_big_endian_nifti_converted_reads_native(tmp_path):
    from nibabel.testing import data_path

    from mlarray.cli import main as cli

    nii, mla = os.path.join(data_path, "anatomical.nii"), str(tmp_path / "anat.mla")
    assert cli(["convert", "-q", nii, mla]) == 0
    assert MLArray.open(mla).dtype == np.dtype(">i2")
    ours, _ = MLArrayIO().read_images([mla])
    seg, _ = MLArrayIO().read_seg(mla)
    ref, _ = SimpleITKIO().read_images([nii])
    assert ours.dtype.isnative and seg.dtype.isnative and np.array_equal(ours, ref)


def test_itk_ordered_file_reads_exactly_as_simpleitkio(volume):
    ours, props = MLArrayIO().read_images([volume["ct_itk"]])
    ref, ref_props = SimpleITKIO().read_images([volume["ct_nii"]])
    assert np.array_equal(ours, ref) and np.allclose(props["spacing"], ref_props["spacing"])


def test_several_channel_files_and_channel_axes(tmp_path, volume):
    data, _ = MLArrayIO().read_images([volume["ct_mla"], volume["ct_mla"]])
    assert data.shape == (2, 14, 26, 22)
    # a case whose channel files store their axes in different orders still stacks on one grid
    mixed, _ = MLArrayIO().read_images([volume["ct_mla"], volume["ct_itk"]])
    assert np.array_equal(mixed[0], mixed[1])
    path = str(tmp_path / "multi.mla")
    arr = np.random.default_rng(0).normal(size=(5, 6, 7, 2)).astype(np.float32)
    MLArray(arr, spacing=(1, 2, 3), axis_labels=["spatial_z", "spatial_y", "spatial_x", "channel"]).save(path)
    data, props = MLArrayIO().read_images([path])
    assert data.shape == (2, 5, 6, 7) and np.array_equal(data, np.moveaxis(arr, -1, 0))
    assert props["spacing"] == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="one channel"):
        MLArrayIO().read_seg(path)
    with pytest.raises(ValueError, match="spatial shape"):
        MLArrayIO().read_images([volume["ct_mla"], path])


def test_2d_images_follow_nnunets_2d_convention(tmp_path):
    path = str(tmp_path / "slide.mla")
    MLArray(np.arange(12, dtype=np.uint8).reshape(3, 4), spacing=(0.5, 0.25)).save(path)
    data, props = MLArrayIO().read_images([path])
    assert data.shape == (1, 1, 3, 4) and props["spacing"] == [0.5 * 999, 0.5, 0.25]
    out = str(tmp_path / "pred.mla")
    MLArrayIO().write_seg(np.ones((1, 3, 4), np.uint8), out, props)
    pred = MLArray.open(out)
    assert pred.shape == (3, 4) and pred.spacing == [0.5, 0.25] and pred.meta.is_seg


def test_write_seg_keeps_the_image_geometry(tmp_path, volume):
    _, props = MLArrayIO().read_images([volume["ct_lps"]])
    props = json.loads(json.dumps(props))  # nnU-Net pickles the properties; they must be plain values
    seg = (np.arange(14 * 26 * 22).reshape(14, 26, 22) % 3).astype(np.int64)
    out = str(tmp_path / "case.mla")
    MLArrayIO().write_seg(seg, out, props)
    pred, image = MLArray.open(out), MLArray.open(volume["ct_lps"])
    assert pred.dtype == np.uint8 and np.array_equal(pred.to_numpy(), seg)
    assert np.allclose(pred.affine, image.affine) and pred.meta.spatial.coord_system == "LPS"
    assert pred.meta.classes is None  # no dataset.json beside the output
    with pytest.raises(ValueError, match="shape"):
        MLArrayIO().write_seg(seg[:5], str(tmp_path / "bad.mla"), props)
    with pytest.raises(ValueError, match="read_images"):
        MLArrayIO().write_seg(seg, str(tmp_path / "bad.mla"), {"spacing": [1, 1, 1]})


def test_class_tables_from_dataset_json(tmp_path):
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"labels": {"background": 0, "liver": 1, "tumour": 2}, "file_ending": ".mla"}))
    assert class_table_from_dataset_json(str(path)) == {0: "background", 1: "liver", 2: "tumour"}
    path.write_text(json.dumps({"labels": {"background": 0, "whole tumour": [1, 2, 3], "core": [2, 3],
                                           "enhancing": 3}, "regions_class_order": [1, 2, 3]}))
    assert class_table_from_dataset_json(str(path)) == {0: "background", 1: "whole tumour", 2: "core",
                                                          3: "enhancing"}
    path.write_text("not json")
    assert class_table_from_dataset_json(str(path)) is None
    assert class_table_from_dataset_json(None) is None


def test_validation_folder_finds_the_trainers_dataset_json(tmp_path, volume):
    """The trainer writes predictions to fold_x/validation and dataset.json two levels up."""
    model = tmp_path / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    (model / "fold_0" / "validation").mkdir(parents=True)
    (model / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "organ": 1}}))
    _, props = MLArrayIO().read_images([volume["ct_mla"]])
    out = str(model / "fold_0" / "validation" / "case.mla")
    MLArrayIO().write_seg(np.zeros((14, 26, 22), np.uint8), out, props)
    assert {c["id"]: c["name"] for c in MLArray.open(out).meta.classes} == {0: "background", 1: "organ"}


def test_file_ending_lookup_in_this_process():
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_file_ending

    assert determine_reader_writer_from_file_ending(".mla", verbose=False) is MLArrayIO
    mlarray.nnunet.register()  # idempotent
    from nnunetv2.imageio.reader_writer_registry import LIST_OF_IO_CLASSES

    assert sum(c is MLArrayIO for c in LIST_OF_IO_CLASSES) == 1


def test_hook_lets_a_fresh_process_find_the_reader_by_name():
    """A new interpreter that never imports mlarray (as nnU-Net's CLI and spawn workers) finds MLArrayIO."""
    assert mlarray.nnunet.install() == mlarray.nnunet.shim_path() and mlarray.nnunet.is_installed()
    code = ("import sys\n"
            "from nnunetv2.imageio.reader_writer_registry import recursive_find_reader_writer_by_name as f\n"
            "assert 'mlarray' not in sys.modules\n"
            "assert f('SimpleITKIO').__name__ == 'SimpleITKIO' and 'mlarray' not in sys.modules\n"
            "print(f('MLArrayIO').__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "mlarray._frameworks.nnunet_io"


def test_install_refuses_a_foreign_file_and_uninstall_removes_only_ours(tmp_path, monkeypatch):
    from mlarray._frameworks import nnunet_hook

    fake = tmp_path / "imageio" / nnunet_hook.SHIM_NAME
    fake.parent.mkdir()
    monkeypatch.setattr(nnunet_hook, "shim_path", lambda: str(fake))
    assert not nnunet_hook.is_installed() and not nnunet_hook.uninstall()
    assert nnunet_hook.install() == str(fake) and nnunet_hook.is_installed()
    assert nnunet_hook.main(["status"]) == 0
    assert nnunet_hook.uninstall() and not fake.exists()
    assert nnunet_hook.main(["status"]) == 1
    fake.write_text("# someone else's module\n")
    with pytest.raises(MLArrayError, match="not written by mlarray"):
        nnunet_hook.install()
    assert not nnunet_hook.uninstall() and fake.read_text(encoding="utf-8") == "# someone else's module\n"
    assert nnunet_hook.main(["bogus"]) == 2


def test_install_into_a_read_only_folder_says_what_to_do(tmp_path, monkeypatch):
    from mlarray._frameworks import nnunet_hook

    if os.geteuid() == 0:
        target = tmp_path / "missing-dir" / nnunet_hook.SHIM_NAME  # root ignores permissions: use a missing folder
    else:
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o500)
        target = tmp_path / "ro" / nnunet_hook.SHIM_NAME
    monkeypatch.setattr(nnunet_hook, "shim_path", lambda: str(target))
    with pytest.raises(MLArrayError, match="python -m mlarray.nnunet install"):
        nnunet_hook.install()


def test_metadata_only_and_4d_files_are_refused_clearly(tmp_path):
    meta_only = str(tmp_path / "boxes.mla")
    MLArray(meta=Meta(bbox={"bboxes": [[[0, 1], [0, 1], [0, 1]]]})).save(meta_only)
    with pytest.raises(ValueError, match="metadata-only"):
        MLArrayIO().read_images([meta_only])
    four = str(tmp_path / "4d.mla")
    MLArray(np.zeros((2, 3, 4, 5), np.float32)).save(four)
    with pytest.raises(ValueError, match="2 or 3 spatial axes"):
        MLArrayIO().read_images([four])
