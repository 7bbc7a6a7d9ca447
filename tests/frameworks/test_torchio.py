"""TorchIO reads .mla through ``mlarray.torchio.reader`` as it reads the source NIfTI itself, and a
``SubjectsDataset`` + ``Queue`` with a patch sampler runs on .mla subjects in worker processes."""

from __future__ import annotations

import numpy as np
import pytest

tio = pytest.importorskip("torchio", reason="install mlarray[torchio]")
import torch  # noqa: E402

import mlarray.torchio  # noqa: E402
from mlarray import Meta, MLArray  # noqa: E402

from .conftest import oblique_affine, only_at_boundaries  # noqa: E402


def _pair(volume, ct: str, seg: str):
    return (tio.Subject(ct=tio.ScalarImage(volume[ct], reader=mlarray.torchio.reader),
                        seg=tio.LabelMap(volume[seg], reader=mlarray.torchio.reader)),
            tio.Subject(ct=tio.ScalarImage(volume["ct_nii"]), seg=tio.LabelMap(volume["seg_nii"])))


def test_images_match_torchio_reading_the_nifti(volume):
    ours, ref = _pair(volume, "ct_mla", "seg_mla")
    for key in ("ct", "seg"):
        assert ours[key].shape == ref[key].shape == (1, 22, 26, 14)
        assert ours[key].data.dtype == ref[key].data.dtype
        assert torch.equal(ours[key].data, ref[key].data)
        # TorchIO's own path goes through SimpleITK (float32 qform): agreement to that precision
        assert np.allclose(ours[key].affine, ref[key].affine, atol=1e-5)
        assert np.allclose(ours[key].affine, oblique_affine(), atol=1e-5)
        assert ours[key].orientation == ref[key].orientation
        assert np.allclose(ours[key].spacing, ref[key].spacing, atol=1e-6)


@pytest.mark.parametrize("pair", [("ct_lps", "seg_lps"), ("ct_itk", "seg_itk")])
def test_lps_files_in_itk_order_match_after_to_canonical(volume, pair):
    ours, ref = _pair(volume, *pair)
    assert ours["ct"].spatial_shape == (14, 26, 22)  # stored (k, j, i)
    canon = tio.ToCanonical()
    ours, ref = canon(ours), canon(ref)
    for key in ("ct", "seg"):
        assert ours[key].orientation == ("R", "A", "S") == ref[key].orientation
        assert torch.equal(ours[key].data, ref[key].data)
        assert np.allclose(ours[key].affine, ref[key].affine, atol=1e-5)


def test_resampling_keeps_the_pair_aligned(volume):
    resample = tio.Compose([tio.ToCanonical(), tio.Resample(1.5)])
    lps, ref = (resample(s) for s in _pair(volume, "ct_lps", "seg_lps"))
    ras, _ = (resample(s) for s in _pair(volume, "ct_mla", "seg_mla"))
    itk, _ = (resample(s) for s in _pair(volume, "ct_itk", "seg_itk"))
    assert lps["ct"].shape == lps["seg"].shape == ref["seg"].shape
    assert np.allclose(lps["seg"].affine, ref["seg"].affine, atol=1e-5)
    # the copy whose geometry came through SimpleITK (as TorchIO's NIfTI path) resamples identically
    assert torch.equal(itk["seg"].data, ref["seg"].data) and torch.equal(itk["ct"].data, ref["ct"].data)
    # our two copies from the NIfTI's exact affine (RAS in nibabel order, LPS in ITK order) agree with each other
    assert torch.equal(lps["seg"].data, ras["seg"].data) and torch.equal(lps["ct"].data, ras["ct"].data)
    # ...and differ from the float32-rounded geometry (1e-7 mm) only where nearest-neighbour ties flip
    assert only_at_boundaries(lps["seg"].data[0].numpy(), ref["seg"].data[0].numpy())


def test_queue_with_label_sampler_on_mla_subjects(volume):
    subjects = [tio.Subject(ct=tio.ScalarImage(volume[c], reader=mlarray.torchio.reader),
                            seg=tio.LabelMap(volume[s], reader=mlarray.torchio.reader), name=c)
                for c, s in (("ct_mla", "seg_mla"), ("ct_lps", "seg_lps"))]
    dataset = tio.SubjectsDataset(subjects, transform=tio.RescaleIntensity(out_min_max=(0, 1)))
    sampler = tio.LabelSampler(patch_size=(8, 8, 6), label_name="seg", label_probabilities={0: 1, 1: 1, 2: 1})
    queue = tio.Queue(dataset, max_length=12, samples_per_volume=6, sampler=sampler, num_workers=2,
                      shuffle_subjects=False, shuffle_patches=False)
    volumes = {name: (MLArray.open(volume[name]).to_numpy(), MLArray.open(volume[name.replace("ct", "seg")]).to_numpy())
               for name in ("ct_mla", "ct_lps")}
    loader = torch.utils.data.DataLoader(queue, batch_size=4, num_workers=0)
    seen = set()
    patches = 0
    for batch in loader:
        for b in range(batch["ct"][tio.DATA].shape[0]):
            name = batch["name"][b]
            ct, seg = volumes[name]
            i0, j0, k0, i1, j1, k1 = batch[tio.LOCATION][b].tolist()
            window = (slice(i0, i1), slice(j0, j1), slice(k0, k1))
            assert torch.equal(batch["seg"][tio.DATA][b, 0], torch.from_numpy(seg[window]))
            # RescaleIntensity maps the whole volume linearly onto [0, 1]
            expected = (ct[window].astype(np.float64) - ct.min()) / (ct.max() - ct.min())
            assert np.allclose(batch["ct"][tio.DATA][b, 0].numpy(), expected, atol=1e-5)
            seen.add(name)
            patches += 1
    assert patches == 12 and seen == {"ct_mla", "ct_lps"}


def test_2d_and_multichannel_files(tmp_path):
    flat = str(tmp_path / "slice.mla")
    MLArray(np.arange(30, dtype=np.uint16).reshape(5, 6), spacing=(0.5, 0.25), origin=(10, 20),
            meta=Meta(spatial={"coord_system": "LPS"})).save(flat)
    img = tio.ScalarImage(flat, reader=mlarray.torchio.reader)
    assert img.shape == (1, 5, 6, 1) and img.data.dtype == torch.int32  # TorchIO widens uint16
    assert np.allclose(img.affine, [[-0.5, 0, 0, -10], [0, -0.25, 0, -20], [0, 0, 1, 0], [0, 0, 0, 1]])
    multi = str(tmp_path / "rgb_volume.mla")
    data = np.random.default_rng(0).integers(0, 255, (4, 5, 6, 3), dtype=np.uint8)
    MLArray(data, spacing=(1, 2, 3), axis_labels=["spatial_x", "spatial_y", "spatial_z", "channel"],
            meta=Meta(spatial={"coord_system": "RAS"})).save(multi)
    rgb = tio.ScalarImage(multi, reader=mlarray.torchio.reader)
    assert rgb.shape == (3, 4, 5, 6)
    assert torch.equal(rgb.data, torch.from_numpy(np.moveaxis(data, -1, 0)))
    assert np.allclose(rgb.spacing, (1, 2, 3))


def test_big_endian_file_through_a_queue(tmp_path):
    """nibabel's big-endian anatomical.nii, converted (the .mla keeps >i2): TorchIO's Queue with worker processes
    gives the voxels TorchIO reads from the NIfTI itself."""
    import os

    from nibabel.testing import data_path

    from mlarray.cli import main as cli

    nii, mla = os.path.join(data_path, "anatomical.nii"), str(tmp_path / "anat.mla")
    assert cli(["convert", "-q", nii, mla]) == 0
    assert MLArray.open(mla).dtype == np.dtype(">i2")
    ours = tio.ScalarImage(mla, reader=mlarray.torchio.reader)
    ref = tio.ScalarImage(nii)
    assert torch.equal(ours.data, ref.data)
    queue = tio.Queue(tio.SubjectsDataset([tio.Subject(t1=ours)]), max_length=4, samples_per_volume=4,
                      sampler=tio.UniformSampler((8, 8, 8)), num_workers=2, shuffle_subjects=False,
                      shuffle_patches=False)
    full = ref.data[0]
    for batch in torch.utils.data.DataLoader(queue, batch_size=2):
        for b in range(2):
            i0, j0, k0, i1, j1, k1 = batch[tio.LOCATION][b].tolist()
            assert torch.equal(batch["t1"][tio.DATA][b, 0], full[i0:i1, j0:j1, k0:k1])


@pytest.mark.parametrize("name", ["CT_small", "MR_small", "CT2 series"])
def test_dicom_sourced_file_reads_as_torchio_reads_the_dicom(dicom_mla, name):
    """TorchIO gives a DICOM as (C, col, row, slice); the .mla of that DICOM (stored (slice, row, col)) reads the
    same, so a single slice is 2D to TorchIO (``is_2d()``) and a model sees the orientation it was trained on."""
    src, mla = dicom_mla[name]
    ref = tio.ScalarImage(src)
    ours = tio.ScalarImage(mla, reader=mlarray.torchio.reader)
    assert ours.shape == ref.shape
    assert ours.is_2d() == ref.is_2d() == (name != "CT2 series")
    assert torch.equal(ours.data, ref.data)
    moving = [k for k, n in enumerate(ref.shape[1:]) if n > 1] + [3]  # one slice's step places nothing
    np.testing.assert_allclose(ours.affine[:3, moving], ref.affine[:3, moving], atol=1e-4)
    if name != "MR_small":  # a single MR slice: ITK steps 1 mm, our reader SliceThickness 0.8 mm
        np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-4)
