"""MONAI reads .mla through ``mlarray.monai.MLArrayReader`` exactly as it reads the NIfTI the file
came from through its own ``NibabelReader``; the lazy patch dataset feeds a multi-worker DataLoader."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

pytest.importorskip("monai", reason="install mlarray[monai]")
import torch  # noqa: E402
from monai.data import DataLoader, MetaTensor, NibabelReader, PydicomReader  # noqa: E402
from monai.transforms import (  # noqa: E402
    Compose,
    EnsureChannelFirst,
    EnsureChannelFirstd,
    LoadImage,
    LoadImaged,
    Orientation,
    Orientationd,
    RandFlipd,
    ScaleIntensityRanged,
    Spacing,
    Spacingd,
)

from mlarray import Meta, MLArray  # noqa: E402
from mlarray.monai import MLArrayPatchDataset, MLArrayReader  # noqa: E402

from .conftest import oblique_affine, only_at_boundaries  # noqa: E402

PIXDIM = (1.1, 1.1, 1.7)


def _load(path, reader, mode="bilinear", **reader_kwargs):
    chain = Compose([LoadImage(reader=reader, image_only=True, **reader_kwargs), EnsureChannelFirst(),
                     Orientation(axcodes="RAS"), Spacing(PIXDIM, mode=mode)])
    return chain(path)


def _same(a: MetaTensor, b: MetaTensor, exact: bool = False, atol: float = 1e-3) -> None:
    assert a.shape == b.shape
    assert np.allclose(a.affine.numpy(), b.affine.numpy(), atol=1e-5)
    if exact:
        assert torch.equal(a.as_tensor(), b.as_tensor())
    else:
        assert torch.allclose(a.as_tensor(), b.as_tensor(), atol=atol)


def test_reader_metadata_follows_monai_conventions(volume):
    img = LoadImage(reader=MLArrayReader(), image_only=True)(volume["ct_mla"])
    ref = LoadImage(reader=NibabelReader(), image_only=True)(volume["ct_nii"])
    assert img.shape == ref.shape == (22, 26, 14)
    assert torch.equal(img.as_tensor(), ref.as_tensor())
    for key in ("affine", "original_affine"):
        assert np.allclose(np.asarray(img.meta[key]), oblique_affine(), atol=1e-5), key
    assert np.array_equal(img.meta["spatial_shape"], ref.meta["spatial_shape"])
    assert np.isnan(img.meta["original_channel_dim"]) and np.isnan(ref.meta["original_channel_dim"])
    assert img.meta["space"] == ref.meta["space"] == "RAS"
    assert img.meta["filename_or_obj"] == volume["ct_mla"]
    assert MLArrayReader().verify_suffix([volume["ct_mla"]]) and not MLArrayReader().verify_suffix(volume["ct_nii"])
    # the other ways MONAI users name a reader: the class, or registered for automatic choice by suffix
    assert torch.equal(LoadImage(reader=MLArrayReader, image_only=True)(volume["ct_mla"]).as_tensor(), img.as_tensor())
    auto = LoadImage(image_only=True)
    auto.register(MLArrayReader())
    assert torch.equal(auto(volume["ct_mla"]).as_tensor(), img.as_tensor())
    assert torch.equal(auto(volume["ct_nii"]).as_tensor(), ref.as_tensor())


@pytest.mark.parametrize("key", ["ct_mla", "ct_lps", "ct_itk"])
def test_image_matches_nibabel_after_orientation_and_spacing(volume, key):
    """Converted (RAS, nibabel order) and ITK-ordered LPS copies all land on NibabelReader's result
    (the SimpleITK-made copy to its float32 geometry: 1e-6 mm shifts the interpolated values slightly)."""
    ours, ref = _load(volume[key], MLArrayReader()), _load(volume["ct_nii"], NibabelReader())
    _same(ours, ref, exact=key == "ct_mla", atol=1e-3 if key == "ct_lps" else 1e-2)


@pytest.mark.parametrize("pair", [("ct_mla", "seg_mla"), ("ct_lps", "seg_lps"), ("ct_itk", "seg_itk")])
def test_segmentation_pair_stays_aligned(volume, pair):
    keys = ["image", "label"]
    chain = Compose([LoadImaged(keys, reader=MLArrayReader()), EnsureChannelFirstd(keys),
                     Orientationd(keys, axcodes="RAS"), Spacingd(keys, PIXDIM, mode=("bilinear", "nearest"))])
    mla = chain({"image": volume[pair[0]], "label": volume[pair[1]]})
    ref_chain = Compose([LoadImaged(keys, reader=NibabelReader()), EnsureChannelFirstd(keys),
                         Orientationd(keys, axcodes="RAS"), Spacingd(keys, PIXDIM, mode=("bilinear", "nearest"))])
    ref = ref_chain({"image": volume["ct_nii"], "label": volume["seg_nii"]})
    assert mla["image"].shape == mla["label"].shape
    assert np.allclose(mla["image"].affine, mla["label"].affine)
    if pair[0] == "ct_itk":  # SimpleITK's float32 geometry (1e-7 mm) moves nearest-neighbour ties
        _same(mla["image"], ref["image"], atol=1e-2)
        assert only_at_boundaries(mla["label"][0].numpy(), ref["label"][0].numpy())
    else:
        _same(mla["label"], ref["label"], exact=True)
        _same(mla["image"], ref["image"])
    # the labels still sit on the bright structures they were drawn on
    assert float(mla["image"][mla["label"] == 2].mean()) > float(mla["image"][mla["label"] == 0].mean()) + 100


@pytest.mark.parametrize("code", ["LPS+", "lps", "RAS+", "LAS", "SRA", "PIL"])
def test_every_anatomical_code_is_converted_to_ras(volume, tmp_path, code):
    """The same world grid written in another anatomical system reads back as the same RAS affine."""
    from mlarray.affines import convert_coord_system

    base = MLArray.open(volume["ct_mla"])
    affine = convert_coord_system(base.affine, "RAS", code.upper().rstrip("+"))
    path = str(tmp_path / "coded.mla")
    MLArray(base.to_numpy(), affine=affine, meta=Meta(spatial={"coord_system": code})).save(path)
    img = LoadImage(reader=MLArrayReader(), image_only=True)(path)
    assert np.allclose(img.affine.numpy(), oblique_affine(), atol=1e-5)
    assert img.meta["space"] == "RAS"


def test_lps_kept_on_request(volume):
    img = LoadImage(reader=MLArrayReader(affine_lps_to_ras=False), image_only=True)(volume["ct_lps"])
    assert img.meta["space"] == "LPS"
    assert np.allclose(np.asarray(img.affine), MLArray.open(volume["ct_lps"]).affine)
    # MONAI's Orientation honours the LPS space: the voxels land where the RAS path puts them
    lps = Orientation(axcodes="RAS")(EnsureChannelFirst()(img))
    ras = _load(volume["ct_nii"], NibabelReader(), mode="bilinear")
    ras_oriented = Orientation(axcodes="RAS")(EnsureChannelFirst()(
        LoadImage(reader=NibabelReader(), image_only=True)(volume["ct_nii"])))
    assert lps.shape == ras_oriented.shape and torch.equal(lps.as_tensor(), ras_oriented.as_tensor())
    assert ras.shape[0] == 1


@pytest.mark.parametrize("cs", [None, "unknown", "other", "scanner"])
def test_unknown_coord_system_keeps_the_affine_and_warns(tmp_path, cs):
    aff = oblique_affine()
    path = str(tmp_path / "unknown.mla")
    MLArray(np.zeros((4, 5, 6), np.int16), affine=aff, meta=Meta(spatial={"coord_system": cs})).save(path)
    with pytest.warns(UserWarning, match="used unchanged, as if it were RAS"):
        img = LoadImage(reader=MLArrayReader(), image_only=True)(path)
    assert np.allclose(img.affine.numpy(), aff) and img.meta["space"] == "RAS"
    bare = str(tmp_path / "bare.mla")  # spacing only: a voxel grid, nothing claimed about the world
    MLArray(np.zeros((4, 5, 6), np.int16), spacing=(2, 3, 4)).save(bare)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grid = LoadImage(reader=MLArrayReader(), image_only=True)(bare)
    assert not [w for w in caught if "coord_system" in str(w.message)]
    assert np.allclose(grid.affine.numpy(), np.diag([2.0, 3.0, 4.0, 1.0]))


def test_channels_match_a_4d_nifti(tmp_path):
    """A 4D NIfTI (the 4th axis last) and its .mla conversion give the same (C, x, y, z) after
    EnsureChannelFirst: MONAI takes NIfTI's last axis as channels, our reader any non-spatial axis."""
    import nibabel as nib

    from mlarray.cli import main as cli

    data = np.random.default_rng(1).normal(size=(6, 7, 5, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, oblique_affine()), tmp_path / "vec.nii.gz")
    assert cli(["convert", "-q", str(tmp_path / "vec.nii.gz"), str(tmp_path / "vec.mla")]) == 0
    assert MLArray.open(tmp_path / "vec.mla").spatial_axes == [0, 1, 2]  # the 4th axis is not spatial

    def load(path, reader):
        return Compose([LoadImage(reader=reader, image_only=True), EnsureChannelFirst()])(str(path))

    ours, ref = load(tmp_path / "vec.mla", MLArrayReader()), load(tmp_path / "vec.nii.gz", NibabelReader())
    _same(ours, ref, exact=True)
    assert ours.shape == (3, 6, 7, 5)


def test_channel_and_time_axes_anywhere_become_one_channel_axis(tmp_path):
    data = np.random.default_rng(2).normal(size=(2, 4, 5, 3, 6)).astype(np.float32)  # (c, z, y, t, x)
    path = str(tmp_path / "ct_dynamic.mla")
    MLArray(data, axis_labels=["channel", "spatial_z", "spatial_y", "temporal", "spatial_x"]).save(path)
    img = Compose([LoadImage(reader=MLArrayReader(), image_only=True), EnsureChannelFirst()])(path)
    assert img.shape == (6, 4, 5, 6)  # channel-major: (c0 t0, c0 t1, c0 t2, c1 t0, ...)
    assert np.array_equal(img.numpy(), data.transpose(0, 3, 1, 2, 4).reshape(6, 4, 5, 6))
    assert np.array_equal(img.meta["spatial_shape"], [4, 5, 6])


def test_several_files_stack_as_channels(volume):
    ours = LoadImage(reader=MLArrayReader(), image_only=True)([volume["ct_mla"], volume["ct_mla"]])
    ref = LoadImage(reader=NibabelReader(), image_only=True)([volume["ct_nii"], volume["ct_nii"]])
    _same(ours, ref, exact=True)
    assert ours.meta["original_channel_dim"] == 0
    with pytest.raises(Exception, match="spatial shape|affine"):
        LoadImage(reader=MLArrayReader(), image_only=True)([volume["ct_mla"], volume["ct_lps"]])
    with pytest.raises(Exception, match="affine"):  # same shape, another grid
        other = MLArray.open(volume["ct_mla"])
        shifted = volume["ct_mla"].replace("ct.mla", "ct_shifted.mla")
        MLArray(other.to_numpy(), affine=other.affine + np.pad(np.ones((3, 1)), ((0, 1), (3, 0))),
                meta=Meta(spatial={"coord_system": "RAS"})).save(shifted)
        LoadImage(reader=MLArrayReader(), image_only=True)([volume["ct_mla"], shifted])


def test_2d_file(tmp_path):
    path = str(tmp_path / "slice.mla")
    MLArray(np.arange(30, dtype=np.float32).reshape(5, 6), spacing=(0.5, 0.25), origin=(10, 20),
            meta=Meta(spatial={"coord_system": "LPS"})).save(path)
    img = Compose([LoadImage(reader=MLArrayReader(), image_only=True), EnsureChannelFirst()])(path)
    assert img.shape == (1, 5, 6)
    # LPS -> RAS flips both in-plane world axes
    assert np.allclose(img.affine.numpy(), [[-0.5, 0, -10], [0, -0.25, -20], [0, 0, 1]])
    resampled = Spacing((1.0, 0.5))(img)
    assert resampled.shape[1:] == (3, 4)  # MONAI: round((n - 1) * old / new) + 1 voxels per axis
    assert np.allclose(np.abs(np.diag(resampled.affine.numpy()))[:2], (1.0, 0.5))


# ----------------------------------------------------------------------------- lazy patch dataset

def _window(volume_array: np.ndarray, start, size) -> np.ndarray:
    return volume_array[tuple(slice(s, s + p) for s, p in zip(start, size))]


def test_patch_dataset_items_are_placed_monai_patches(volume):
    ds = MLArrayPatchDataset([{"image": volume["ct_mla"], "label": volume["seg_mla"], "id": "case-1"}],
                             patch_size=(8, 10, 6), num_samples=6, seed=3)
    ct = MLArray.open(volume["ct_mla"]).to_numpy()
    seg = MLArray.open(volume["seg_mla"]).to_numpy()
    assert len(ds) == 6
    fg = 0
    for i in range(len(ds)):
        item = ds[i]
        image, label, start = item["image"], item["label"], item["patch_start"]
        assert isinstance(image, MetaTensor) and image.shape == (1, 8, 10, 6) and image.dtype == torch.float32
        assert label.shape == (1, 8, 10, 6) and item["id"] == "case-1"
        assert np.array_equal(image[0].numpy(), _window(ct, start, (8, 10, 6)).astype(np.float32))
        assert np.array_equal(label[0].numpy(), _window(seg, start, (8, 10, 6)))
        # the patch's affine maps its voxel 0 to the world position of the volume's voxel `start`
        expected = oblique_affine()
        expected[:3, 3] = oblique_affine()[:3, :3] @ start + oblique_affine()[:3, 3]
        assert np.allclose(image.affine.numpy(), expected, atol=1e-5)
        assert np.allclose(label.affine.numpy(), expected, atol=1e-5)
        fg += bool(item["foreground"]) and bool(label.any())
    assert fg >= 2  # a third of the indices are centred on foreground


def test_patch_dataset_reads_only_the_window(volume, monkeypatch):
    keys = []
    original = MLArray.__getitem__

    def spy(self, key):
        keys.append(key)
        return original(self, key)

    ds = MLArrayPatchDataset([{"image": volume["ct_mla"], "label": volume["seg_mla"]}], patch_size=8,
                             foreground_fraction=0, seed=1)
    monkeypatch.setattr(MLArray, "__getitem__", spy)
    monkeypatch.setattr(MLArray, "to_numpy", lambda self: pytest.fail("a whole volume was read"))
    start = ds[0]["patch_start"]
    window = tuple(slice(int(s), int(s) + 8) for s in start)
    assert keys == [window, window]


def test_patch_dataset_multi_worker_loader_with_monai_transforms(volume):
    keys = ["image", "label"]
    transform = Compose([ScaleIntensityRanged("image", a_min=-100, a_max=300, b_min=0, b_max=1, clip=True),
                         RandFlipd(keys, prob=1.0, spatial_axis=0)])
    data = [{"image": volume["ct_mla"], "label": volume["seg_mla"]},
            {"image": volume["ct_lps"], "label": volume["seg_lps"]}]
    ds = MLArrayPatchDataset(data, patch_size=(8, 8, 8), num_samples=8, seed=5, transform=transform)

    def batches(workers):
        loader = DataLoader(ds, batch_size=2, num_workers=workers)
        return [(b["image"].as_tensor(), b["label"].as_tensor(), b["patch_start"], b["case"]) for b in loader]

    many, one = batches(2), batches(0)
    assert len(many) == 4
    for (im, lab, start, case), (im1, lab1, start1, case1) in zip(many, one):
        assert im.shape == (2, 1, 8, 8, 8) and lab.shape == (2, 1, 8, 8, 8)
        assert float(im.min()) >= 0 and float(im.max()) <= 1
        assert torch.equal(im, im1) and torch.equal(lab, lab1) and torch.equal(start, start1)
    # the flip reached image and label alike
    raw = MLArrayPatchDataset(data, patch_size=(8, 8, 8), num_samples=8, seed=5)
    item = raw[0]
    flipped = ds[0]
    assert torch.equal(flipped["label"].as_tensor(), torch.flip(item["label"].as_tensor(), dims=[1]))


def test_patch_dataset_2d_patches_from_volumes(volume):
    ds = MLArrayPatchDataset([{"image": volume["ct_mla"]}], patch_size=(10, 6), num_samples=3, seed=2, slice_axis=0)
    item = ds[1]
    assert item["image"].shape == (1, 10, 6) and "label" not in item
    start = item["patch_start"]
    aff = oblique_affine()
    ct = MLArray.open(volume["ct_mla"]).to_numpy()
    assert np.array_equal(item["image"][0].numpy(), ct[start[0], start[1]:start[1] + 10, start[2]:start[2] + 6])
    # in-plane axes first, the squeezed axis last; voxel 0 at the world position of `start`
    assert np.allclose(item["image"].affine.numpy()[:3, :3], aff[:3, [1, 2, 0]])
    assert np.allclose(item["image"].affine.numpy()[:3, 3], aff[:3, :3] @ start + aff[:3, 3])


def test_patch_dataset_refuses_mixed_labels(volume):
    with pytest.raises(KeyError, match="label"):
        MLArrayPatchDataset([{"image": volume["ct_mla"], "label": volume["seg_mla"]}, {"image": volume["ct_mla"]}],
                            patch_size=8)
    with pytest.raises(KeyError, match="image"):
        MLArrayPatchDataset([{"label": volume["seg_mla"]}], patch_size=8)


def test_itk_ordered_copies_are_consistent(volume):
    """The LPS copies (used as geometry references above) hold the converted voxels transposed, and the
    exact one agrees with SimpleITK's geometry, so a failure above is a reader problem, not a fixture one."""
    a = MLArray.open(volume["ct_mla"]).to_numpy()
    lps, itk = MLArray.open(volume["ct_lps"]), MLArray.open(volume["ct_itk"])
    assert np.array_equal(a.transpose(2, 1, 0), lps.to_numpy()) and np.array_equal(lps.to_numpy(), itk.to_numpy())
    assert np.allclose(lps.affine, itk.affine, atol=1e-5)


def test_patch_dataset_2d_patches_are_axial_by_default(volume):
    """The converted NIfTI stores (x, y, z), the ITK-ordered copy (z, y, x): both give axial slices, the same
    world plane, with the squeezed (S/I) axis last in the affine."""
    items = {}
    for key in ("ct_mla", "ct_itk"):
        ds = MLArrayPatchDataset([{"image": volume[key]}], patch_size=(8, 8), num_samples=1, seed=4)
        assert ds.sampler.squeezed_axes(0) == ((2,) if key == "ct_mla" else (0,))
        items[key] = ds[0]["image"]
    for img in items.values():
        normal = img.affine.numpy()[:3, 2]
        assert abs(normal[2]) / np.linalg.norm(normal) > 0.9  # the squeezed axis runs along S/I


def test_patch_dataset_epochs_reach_persistent_workers(volume):
    data = [{"image": volume["ct_mla"], "label": volume["seg_mla"]}]
    ds = MLArrayPatchDataset(data, patch_size=(8, 8, 8), num_samples=6, seed=9)

    def starts(loader):
        out = []
        for epoch in range(3):
            ds.set_epoch(epoch)
            out.append(torch.cat([torch.as_tensor(b["patch_start"]) for b in loader]))
        return out

    persistent = starts(DataLoader(ds, batch_size=3, num_workers=2, persistent_workers=True))
    single = starts(DataLoader(ds, batch_size=3, num_workers=0))
    assert not torch.equal(persistent[0], persistent[1]) and not torch.equal(persistent[1], persistent[2])
    assert all(torch.equal(p, s) for p, s in zip(persistent, single))


# ----------------------------------------------------------------------------- NibabelReader's layout and keys

def _nifti_cases(tmp_path):
    from nibabel.testing import data_path

    from mlarray.cli import main as cli

    out = []
    for name in ("anatomical.nii", "example4d.nii.gz"):
        mla = str(tmp_path / (name.split(".")[0] + ".mla"))
        assert cli(["convert", "-q", os.path.join(data_path, name), mla]) == 0
        out.append((os.path.join(data_path, name), mla))
    return out


def test_reader_layout_and_metadata_match_nibabelreader(tmp_path, volume):
    """Without EnsureChannelFirst: the same array layout (a 4-D file channel-last), original_channel_dim,
    pixdim and original_pixdim as MONAI's own NibabelReader on the NIfTI the file came from."""
    for nii, mla in _nifti_cases(tmp_path) + [(volume["ct_nii"], volume["ct_mla"])]:
        ours = LoadImage(reader=MLArrayReader(), image_only=True)(mla)
        ref = LoadImage(reader=NibabelReader(), image_only=True)(nii)
        assert ours.shape == ref.shape, nii
        assert torch.equal(ours.as_tensor(), ref.as_tensor()), nii
        cd, ref_cd = ours.meta["original_channel_dim"], ref.meta["original_channel_dim"]
        assert (np.isnan(cd) and np.isnan(ref_cd)) if ref.ndim == 3 else cd == ref_cd == -1, nii
        n = len(ref.meta["spatial_shape"])
        for key in ("pixdim", "original_pixdim"):
            assert np.allclose(ours.meta[key][:n + 1], ref.meta[key][:n + 1], atol=1e-5), (nii, key)
        assert np.allclose(ours.pixdim.numpy(), ref.pixdim.numpy(), atol=1e-5)
        assert np.allclose(ours.affine.numpy(), ref.affine.numpy(), atol=1e-4)


def test_big_endian_file_reads_in_native_byte_order(tmp_path):
    """nibabel's anatomical.nii is big-endian: the .mla keeps >i2, MONAI gets native int16 even with dtype=None
    (where MONAI's own NibabelReader path fails in torch)."""
    nii, mla = _nifti_cases(tmp_path)[0]
    assert MLArray.open(mla).dtype == np.dtype(">i2")
    data, _ = MLArrayReader().get_data(MLArrayReader().read(mla))
    assert data.dtype == np.dtype("int16") and data.dtype.isnative
    img = LoadImage(reader=MLArrayReader(), image_only=True, dtype=None)(mla)
    assert img.dtype == torch.int16
    ref = LoadImage(reader=NibabelReader(), image_only=True)(nii)
    assert torch.equal(img.as_tensor().float(), ref.as_tensor())


def test_load_image_without_reader_picks_mlarrayreader(volume):
    """``import mlarray.monai`` registers the reader where MONAI looks for default readers: ``LoadImage()`` and
    ``LoadImaged`` without ``reader=`` read .mla (before, pydicom's InvalidDicomError)."""
    img = LoadImage(image_only=True)(volume["ct_mla"])
    ref = LoadImage(reader=MLArrayReader(), image_only=True)(volume["ct_mla"])
    assert torch.equal(img.as_tensor(), ref.as_tensor())
    d = LoadImaged(["image", "label"])({"image": volume["ct_mla"], "label": volume["seg_mla"]})
    assert d["image"].shape == d["label"].shape == (22, 26, 14)
    # NIfTI still goes to MONAI's own reader
    assert torch.equal(LoadImage(image_only=True)(volume["ct_nii"]).as_tensor(), img.as_tensor())


def test_readme_monai_snippet_runs_as_written(volume, tmp_path, monkeypatch):
    """The README's MONAI block, extracted and executed unchanged beside a ct.mla and a seg.mla."""
    import re
    import shutil

    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md"), encoding="utf-8").read()
    section = readme[readme.index("**MONAI**"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "from mlarray.monai import" in code
    shutil.copy(volume["ct_mla"], tmp_path / "ct.mla")
    shutil.copy(volume["seg_mla"], tmp_path / "seg.mla")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (MONAI)", "exec"), namespace)
    assert namespace["case"]["image"].shape == (1, 22, 26, 14)
    assert namespace["batch"]["image"].shape[1:] == (1, 96, 96, 96)


@pytest.mark.parametrize("lps_to_ras", [True, False])
@pytest.mark.parametrize("name", ["CT_small", "MR_small", "CT2 series"])
def test_dicom_sourced_file_reads_as_monai_reads_the_dicom(dicom_mla, name, lps_to_ras):
    """MONAI's PydicomReader gives a DICOM as (col, row, slice); so does the .mla of that DICOM (stored (slice,
    row, col)). A single file is 2-D to PydicomReader; we keep its slice axis (as ITK does), so the image
    is compared on that slice and the affine on the axes that place voxels."""
    src, mla = dicom_mla[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PydicomReader's notes on the series' uneven spacing
        ref = LoadImage(reader=PydicomReader(affine_lps_to_ras=lps_to_ras), image_only=True)(src)
    ours = LoadImage(reader=MLArrayReader(affine_lps_to_ras=lps_to_ras), image_only=True)(mla)
    assert ours.meta["space"] == ref.meta["space"] == ("RAS" if lps_to_ras else "LPS")
    if name == "CT2 series":
        assert ours.shape == ref.shape == (16, 16, 4)
        assert torch.equal(ours.as_tensor(), ref.as_tensor())
        assert np.array_equal(ours.meta["spatial_shape"], ref.meta["spatial_shape"])
        np.testing.assert_allclose(np.asarray(ours.affine), np.asarray(ref.affine), atol=1e-4)
        np.testing.assert_allclose(np.asarray(ours.meta["pixdim"])[1:4], np.asarray(ref.meta["spacing"]), rtol=1e-5)
        return
    assert ref.ndim == 2 and ours.shape == ref.shape + (1,)
    assert torch.equal(ours.as_tensor()[..., 0], ref.as_tensor())
    np.testing.assert_allclose(np.asarray(ours.affine)[:3, [0, 1, 3]], np.asarray(ref.affine)[:3, [0, 1, 3]],
                               atol=1e-4)
