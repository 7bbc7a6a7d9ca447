"""PatchSampler: shapes, windows, padding, determinism, foreground oversampling, chunk-only reads."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from mlarray import Meta, MLArray, training
from mlarray.training import PatchSampler, find_foreground, foreground_from_level

AXES4 = ["channel", "spatial_z", "spatial_y", "spatial_x"]
SHAPE = (40, 50, 60)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two 2-channel images and their label maps (class 1: a small cube, class 2: one voxel)."""
    d = tmp_path_factory.mktemp("patches")
    rng = np.random.default_rng(0)
    images, labels, arrays = [], [], []
    for i in range(2):
        img = rng.normal(size=(2, *SHAPE)).astype(np.float32)
        lab = np.zeros(SHAPE, np.uint8)
        lab[5 + i:9 + i, 30:34, 40:45] = 1
        lab[35, 45, 55 - i] = 2
        ip, lp = d / f"case{i}_img.mla", d / f"case{i}_seg.mla"
        MLArray(img, axis_labels=AXES4, spacing=[1.0, 0.8, 0.8], patch_size=16).save(ip)
        MLArray(lab, meta=Meta(is_seg=True), spacing=[1.0, 0.8, 0.8], patch_size=16).save(lp)
        images.append(str(ip))
        labels.append(str(lp))
        arrays.append((img, lab))
    return images, labels, arrays


def _expected(arr, axes, start, size, pad=0):
    """The window cut from an explicitly padded copy (the reference for read_patch)."""
    pads = [(0, 0)] * arr.ndim
    for ax, p in zip(axes, size):
        pads[ax] = (p, p)
    padded = np.pad(arr, pads, constant_values=pad)
    key = [slice(None)] * arr.ndim
    for ax, s, p in zip(axes, start, size):
        key[ax] = slice(s + p, s + 2 * p)
    return padded[tuple(key)]


def test_3d_patches_carry_channels_and_match_the_file(dataset):
    images, labels, arrays = dataset
    s = PatchSampler(images, labels, patch_size=(16, 24, 20), seed=3, length=20)
    assert len(s) == 20
    for i in range(12):
        p = s.sample(i)
        assert p["image"].shape == (2, 16, 24, 20) and p["image"].dtype == np.float32
        assert p["label"].shape == (16, 24, 20) and p["label"].dtype == np.uint8
        img, lab = arrays[p["case"]]
        st = p["start"].tolist()
        np.testing.assert_array_equal(p["image"], _expected(img, [1, 2, 3], st, [16, 24, 20]))
        np.testing.assert_array_equal(p["label"], _expected(lab, [0, 1, 2], st, [16, 24, 20]))


def test_2d_patches_from_3d_volumes(dataset):
    images, labels, arrays = dataset
    s = PatchSampler(images, labels, patch_size=(32, 32), seed=1)
    p = s.sample(0)
    assert p["image"].shape == (2, 32, 32) and p["label"].shape == (32, 32)
    img, _ = arrays[p["case"]]
    z, y, x = p["start"].tolist()
    np.testing.assert_array_equal(p["image"], img[:, z, y:y + 32, x:x + 32])


def test_padding_when_the_patch_exceeds_the_volume(dataset):
    images, labels, arrays = dataset
    s = PatchSampler(images, labels, patch_size=64, pad_value=-7, label_pad_value=255, seed=0,
                     foreground_fraction=0)
    p = s.sample(0)
    assert p["image"].shape == (2, 64, 64, 64)
    st = p["start"].tolist()
    assert all(-(64 - n) <= v <= 0 for v, n in zip(st, SHAPE))  # the volume lies inside the window
    img, lab = arrays[p["case"]]
    np.testing.assert_array_equal(p["image"], _expected(img, [1, 2, 3], st, [64] * 3, pad=-7))
    np.testing.assert_array_equal(p["label"], _expected(lab, [0, 1, 2], st, [64] * 3, pad=255))
    # explicit windows partly (or wholly) outside
    w = s.read_patch(0, [-10, 45, 58], [16, 16, 16])
    np.testing.assert_array_equal(w["image"], _expected(arrays[0][0], [1, 2, 3], [-10, 45, 58], [16] * 3, pad=-7))
    far = s.read_patch(0, [100, 0, 0], [4, 4, 4])
    assert (far["image"] == -7).all() and (far["label"] == 255).all()
    edge = PatchSampler(images, patch_size=64, pad_mode="edge", foreground_fraction=0).sample(0)
    assert edge["image"].shape == (2, 64, 64, 64)


def test_deterministic_per_index_regardless_of_order_and_pickling(dataset):
    images, labels, _ = dataset
    a = PatchSampler(images, labels, patch_size=16, seed=42, length=30)
    b = pickle.loads(pickle.dumps(PatchSampler(images, labels, patch_size=16, seed=42, length=30)))
    forward = [a.sample(i) for i in range(10)]
    backward = [b.sample(i) for i in reversed(range(10))][::-1]
    for x, y in zip(forward, backward):
        assert x["case"] == y["case"] and (x["start"] == y["start"]).all()
        np.testing.assert_array_equal(x["image"], y["image"])
    other_seed = PatchSampler(images, labels, patch_size=16, seed=43)
    assert any((other_seed.sample(i)["start"] != forward[i]["start"]).any() for i in range(10))
    next_epoch = [a.sample(i, epoch=1)["start"].tolist() for i in range(10)]
    assert next_epoch != [f["start"].tolist() for f in forward]


def test_pickles_as_paths_not_data(dataset):
    images, labels, _ = dataset
    s = PatchSampler(images, labels, patch_size=16)
    s.sample(0)  # opens handles
    blob = pickle.dumps(s)
    assert len(blob) < 20_000
    assert images[0].encode() in blob


def test_foreground_oversampling_one_in_three(dataset):
    images, labels, arrays = dataset
    s = PatchSampler(images, labels, patch_size=(8, 8, 8), foreground_fraction=1 / 3, seed=5)
    flags = [s.sample(i)["foreground"] for i in range(30)]
    assert sum(flags) == 10
    assert all(sum(flags[k:k + 3]) == 1 for k in range(0, 30, 3))
    for i in range(30):
        if s.is_foreground_index(i):
            p = s.sample(i)
            assert p["label"].max() > 0  # centred on foreground: the patch contains it
    # foreground_fraction=1: every patch contains foreground, both classes get picked
    every = PatchSampler(images, labels, patch_size=(8, 8, 8), foreground_fraction=1.0, seed=0)
    picked = set()
    for i in range(40):
        p = every.sample(i)
        assert p["foreground"] and p["label"].max() > 0
        picked |= set(np.unique(p["label"]).tolist())
    assert {1, 2} <= picked
    assert PatchSampler(images, labels, patch_size=8, foreground_fraction=1.0,
                        foreground_classes=[2]).sample(0)["label"].max() == 2


def test_find_foreground_streams_and_subsamples(dataset):
    _, labels, arrays = dataset
    fg = find_foreground(labels[0], max_per_class=10)
    lab = arrays[0][1]
    assert sorted(fg) == [1, 2]
    assert fg[1].shape == (10, 3) and fg[1].dtype == np.int32
    assert (lab[tuple(fg[1].T)] == 1).all()
    np.testing.assert_array_equal(fg[2], [[35, 45, 55]])  # a single-voxel class is never lost
    assert len(find_foreground(labels[0], max_per_class=10_000)[1]) == (lab == 1).sum()
    assert sorted(find_foreground(labels[0], classes=[2])) == [2]


def test_foreground_from_boxes(tmp_path):
    img = np.zeros((30, 40, 50), np.int16)
    meta = Meta(bbox={"bboxes": [[[20, 24], [5, 9], [40, 44]]], "labels": ["lesion"]})
    path = tmp_path / "boxes.mla"
    MLArray(img, meta=meta).save(path)
    s = PatchSampler([path], patch_size=6, foreground_fraction=1.0)
    assert s._mode_for(0) == "bbox"
    for i in range(10):
        st = s.sample(i)["start"]
        centre = st + 3
        assert (centre >= [20, 5, 40]).all() and (centre <= [24, 9, 44]).all()


def test_foreground_from_the_coarsest_level(tmp_path):
    lab = np.zeros((8, 300, 300), np.uint8)  # an axis > 256: the file gets a pyramid
    lab[2:6, 100:140, 30:70] = 3
    path = tmp_path / "seg.mla"
    MLArray(lab, meta=Meta(is_seg=True)).save(path)
    assert len(MLArray.open(path).levels) > 1
    fg = foreground_from_level(path)
    assert sorted(fg) == [3]
    assert (lab[tuple(fg[3].T)] == 3).mean() > 0.9
    s = PatchSampler([path], patch_size=(1, 8, 8), foreground="level", foreground_fraction=1.0)
    assert all(s.sample(i)["image"].max() == 3 for i in range(5))


def test_precompute_in_parallel_and_disk_cache(dataset, tmp_path, monkeypatch):
    images, labels, _ = dataset
    lazy = PatchSampler(images, labels, patch_size=8, foreground_fraction=1.0, seed=2, cache_dir=tmp_path)
    eager = PatchSampler(images, labels, patch_size=8, foreground_fraction=1.0, seed=2).precompute_foreground(jobs=2)
    for i in range(6):
        assert (lazy.sample(i)["start"] == eager.sample(i)["start"]).all()
    assert len(list(tmp_path.glob("fg-*.npz"))) == 2

    def no_scan(*a, **k):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(training, "find_foreground", no_scan)
    cached = PatchSampler(images, labels, patch_size=8, foreground_fraction=1.0, seed=2, cache_dir=tmp_path)
    assert (cached.sample(0)["start"] == eager.sample(0)["start"]).all()


def test_reads_only_the_window(dataset, monkeypatch):
    """The sampler slices the stored array with the window itself (clipped), never a whole volume;
    Blosc2 then decompresses only the chunks under that slice."""
    images, labels, _ = dataset
    keys = []
    original = MLArray.__getitem__

    def spy(self, key):
        keys.append((self.filepath, key))
        return original(self, key)

    monkeypatch.setattr(MLArray, "__getitem__", spy)
    s = PatchSampler(images, labels, patch_size=(8, 8, 8), foreground_fraction=0, seed=9)
    p = s.sample(0)
    z, y, x = p["start"].tolist()
    img_key = [k for f, k in keys if f.endswith("_img.mla")]
    assert img_key == [(slice(None), slice(z, z + 8), slice(y, y + 8), slice(x, x + 8))]
    assert len(keys) == 2


def test_bad_arguments(dataset, tmp_path):
    images, labels, _ = dataset
    with pytest.raises(ValueError, match="label"):
        PatchSampler(images, labels[:1], patch_size=8)
    with pytest.raises(ValueError, match="foreground"):
        PatchSampler(images, patch_size=8, foreground="everywhere")
    with pytest.raises(ValueError, match="patch_size"):
        PatchSampler(images, patch_size=(4, 4, 4, 4))
    other = tmp_path / "small_seg.mla"
    MLArray(np.zeros((4, 4, 4), np.uint8)).save(other)
    with pytest.raises(ValueError, match="spatial shape"):
        PatchSampler(images[:1], [str(other)], patch_size=4)



def test_unknown_pad_mode_is_refused_at_construction(dataset):
    images, _, _ = dataset
    with pytest.raises(training.SamplingError, match="pad_mode='mirror'"):
        PatchSampler(images, patch_size=8, pad_mode="mirror")


def test_a_metadata_only_label_file_is_refused_with_its_path(dataset, tmp_path):
    from mlarray import NoArrayError

    images, _, _ = dataset
    boxes = tmp_path / "boxes_only.mla"
    MLArray(meta=Meta(bbox={"bboxes": [[[1, 5], [2, 9], [3, 7]]]})).save(boxes)
    with pytest.raises(NoArrayError, match="boxes_only.mla: metadata-only"):
        PatchSampler(images[:1], [str(boxes)], patch_size=8)
    with pytest.raises(NoArrayError, match="boxes_only.mla: metadata-only"):
        find_foreground(boxes)


def test_label_axes_of_a_case_without_labels_is_a_sampling_error(dataset):
    images, _, _ = dataset
    s = PatchSampler(images, patch_size=8)
    assert s.patch_spatial_axes(0) == [1, 2, 3]
    with pytest.raises(training.SamplingError, match="no label file"):
        s.patch_spatial_axes(0, label=True)


# ----------------------------------------------------------------------------- files no one here wrote

@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """nibabel's big-endian ``anatomical.nii`` (x, y, z; RAS) and pydicom's ``CT_small.dcm`` (z, y, x; LPS),
    converted with ``mlarray convert``, plus an LPS copy of the anatomical volume in ITK's (z, y, x) order."""
    nib = pytest.importorskip("nibabel")
    from nibabel.testing import data_path
    from pydicom.data import get_testdata_file

    from mlarray.cli import main as cli

    d = tmp_path_factory.mktemp("converted")
    paths = {"anat": str(d / "anat.mla"), "ct": str(d / "ct.mla"), "anat_zyx": str(d / "anat_zyx.mla"),
             "nii": os.path.join(data_path, "anatomical.nii")}
    assert cli(["convert", "-q", paths["nii"], paths["anat"]]) == 0
    assert cli(["convert", "-q", get_testdata_file("CT_small.dcm"), paths["ct"]]) == 0
    img = nib.load(paths["nii"])
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine
    lin = lps[:3, :3][:, ::-1]
    spacing = np.linalg.norm(lin, axis=0)
    MLArray(np.asarray(img.dataobj).transpose(2, 1, 0), spacing=spacing, origin=lps[:3, 3], direction=lin / spacing,
            meta=Meta(spatial={"coord_system": "LPS"})).save(paths["anat_zyx"])
    return paths


def test_big_endian_files_give_native_patches(converted):
    import nibabel as nib

    stored = MLArray.open(converted["anat"], mmap_mode="r")
    assert stored.dtype == np.dtype(">i2")  # the file stays faithful to its source
    ref = np.asarray(nib.load(converted["nii"]).dataobj)
    s = PatchSampler([converted["anat"]], patch_size=(8, 8, 8), seed=0, length=4, foreground_fraction=0)
    for i in range(4):
        p = s.sample(i)
        assert p["image"].dtype == np.dtype("int16") and p["image"].dtype.isnative
        x, y, z = p["start"].tolist()
        np.testing.assert_array_equal(p["image"], ref[x:x + 8, y:y + 8, z:z + 8])


def test_2d_patches_are_axial_for_nifti_and_dicom_converted_files(converted):
    """NIfTI-converted files store (x, y, z), DICOM-converted ones (z, y, x): axial either way by default."""
    anat = PatchSampler([converted["anat"]], patch_size=(16, 16), seed=1, foreground_fraction=0)
    zyx = PatchSampler([converted["anat_zyx"]], patch_size=(16, 16), seed=1, foreground_fraction=0)
    ct = PatchSampler([converted["ct"]], patch_size=(32, 32), seed=1, foreground_fraction=0)
    assert anat.squeezed_axes(0) == (2,) and zyx.squeezed_axes(0) == (0,) and ct.squeezed_axes(0) == (0,)
    vol = MLArray.open(converted["anat"]).to_numpy()
    p = anat.sample(0)
    x, y, z = p["start"].tolist()
    assert p["image"].shape == (16, 16)
    np.testing.assert_array_equal(p["image"], vol[x:x + 16, y:y + 16, z])
    # the same axial slice, read from the (z, y, x) copy, is the transposed plane
    q = zyx.read_patch(0, [z, y, x], [1, 16, 16])["image"]
    np.testing.assert_array_equal(q, p["image"].T)
    assert ct.sample(0)["image"].shape == (32, 32)
    # named planes and axis indices
    for plane, axis_xyz, axis_zyx in (("sagittal", 0, 2), ("coronal", 1, 1), ("axial", 2, 0)):
        assert PatchSampler([converted["anat"]], patch_size=(8, 8), slice_axis=plane).squeezed_axes(0) == (axis_xyz,)
        assert PatchSampler([converted["anat_zyx"]], patch_size=(8, 8),
                            slice_axis=plane).squeezed_axes(0) == (axis_zyx,)
    assert PatchSampler([converted["anat"]], patch_size=(8, 8), slice_axis=1).squeezed_axes(0) == (1,)
    sag = PatchSampler([converted["anat"]], patch_size=(8, 8), slice_axis="sagittal", seed=3).sample(0)
    x, y, z = sag["start"].tolist()
    np.testing.assert_array_equal(sag["image"], vol[x, y:y + 8, z:z + 8])


def test_slice_axis_refused_clearly(dataset):
    from mlarray import MLArrayError

    images, _, _ = dataset
    bare = images[0].replace("case0_img", "bare")
    MLArray(np.zeros((8, 9, 10), np.float32)).save(bare)  # no body frame, no axis labels
    assert PatchSampler([bare], patch_size=(4, 4)).squeezed_axes(0) == (0,)  # the first spatial axis
    with pytest.raises(training.SamplingError, match="coord_system"):
        PatchSampler([bare], patch_size=(4, 4), slice_axis="axial")
    with pytest.raises(MLArrayError, match="slice_axis"):
        PatchSampler(images, patch_size=(8, 8), slice_axis="transverse")
    # axis labels name the axes of files without a body frame (a microscopy z-stack: axial = its xy planes)
    path = images[0].replace("case0_img", "yxz")
    MLArray(np.zeros((8, 9, 10), np.float32), axis_labels=["spatial_y", "spatial_x", "spatial_z"]).save(path)
    assert PatchSampler([path], patch_size=(4, 4)).squeezed_axes(0) == (2,)
    assert PatchSampler([path], patch_size=(4, 4), slice_axis="sagittal").squeezed_axes(0) == (1,)
    with pytest.raises(ValueError, match="slice_axis=3"):
        PatchSampler(images, patch_size=(8, 8), slice_axis=3)


def test_bbox_foreground_takes_the_images_boxes_or_warns(tmp_path):
    img = np.zeros((30, 30, 30), np.int16)
    lab = np.zeros((30, 30, 30), np.uint8)
    lab[20:24, 5:9, 10:14] = 1
    boxed, bare, seg = tmp_path / "boxed.mla", tmp_path / "bare.mla", tmp_path / "seg.mla"
    MLArray(img, meta=Meta(bbox={"bboxes": [[[20, 24], [5, 9], [10, 14]]]})).save(boxed)
    MLArray(img).save(bare)
    MLArray(lab, meta=Meta(is_seg=True)).save(seg)
    s = PatchSampler([boxed], [seg], patch_size=6, foreground="bbox", foreground_fraction=1.0)
    assert all(s.sample(i)["label"].any() for i in range(6))  # boxes of the image, as documented
    s = PatchSampler([bare], [seg], patch_size=6, foreground="bbox", foreground_fraction=1.0)
    with pytest.warns(UserWarning, match="neither .*seg.mla nor .*bare.mla has boxes"):
        s.sample(0)
    s = PatchSampler([bare], patch_size=6, foreground="bbox", foreground_fraction=1.0)
    with pytest.warns(UserWarning, match=r"bare\.mla has no boxes"):  # the trial's file had none: say so
        s.sample(0)


def test_errors_are_mlarray_errors_with_the_builtin_base(dataset):
    from mlarray import MLArrayError

    images, labels, _ = dataset
    with pytest.raises(MLArrayError) as info:
        PatchSampler(images, labels[:1], patch_size=8)
    assert isinstance(info.value, ValueError) and isinstance(info.value, training.SamplingError)
    with pytest.raises(training.SamplingTypeError) as info:
        find_foreground(images[0])  # float data
    assert isinstance(info.value, TypeError) and isinstance(info.value, MLArrayError)
