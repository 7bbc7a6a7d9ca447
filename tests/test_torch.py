"""PatchDataset with a multi-worker DataLoader: same batches as one process, workers stay small."""

from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader  # noqa: E402

from mlarray import Meta, MLArray  # noqa: E402
from mlarray.torch import PatchDataset  # noqa: E402

AXES4 = ["channel", "spatial_z", "spatial_y", "spatial_x"]
BIG = (160, 160, 160)  # float32: 16.4 MB per volume


def _memory() -> dict:
    """Resident memory of this process: ``rss`` (all) and ``anon`` (private heap, excluding the
    page cache of memory-mapped files), from /proc/self/status, or psutil where /proc is missing."""
    try:
        out = {}
        with open("/proc/self/status") as fh:
            for line in fh:
                key = line.split(":")[0]
                if key in ("VmRSS", "RssAnon"):
                    out["rss" if key == "VmRSS" else "anon"] = int(line.split()[1]) * 1024
        out.setdefault("anon", out["rss"])
        return out
    except OSError:
        import psutil

        rss = int(psutil.Process().memory_info().rss)
        return {"rss": rss, "anon": rss}


class RecordMemory:
    """Transform that attaches the worker's pid and memory after producing the item (picklable)."""

    def __call__(self, item):
        m = _memory()
        item["pid"], item["rss"], item["anon"] = os.getpid(), m["rss"], m["anon"]
        return item


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch")
    images, labels = [], []
    zz, yy, xx = np.meshgrid(*[np.linspace(0, 6, n, dtype=np.float32) for n in BIG], indexing="ij")
    for i in range(2):
        img = (np.sin(zz + i) * np.cos(yy) + 0.1 * xx)[None].astype(np.float32)  # smooth, compresses
        lab = (img[0] > 0.9).astype(np.uint8)
        MLArray(img, axis_labels=AXES4, patch_size=32).save(d / f"img{i}.mla")
        MLArray(lab, meta=Meta(is_seg=True), patch_size=32).save(d / f"seg{i}.mla")
        images.append(str(d / f"img{i}.mla"))
        labels.append(str(d / f"seg{i}.mla"))
        del img, lab
    del zz, yy, xx
    gc.collect()
    return images, labels


def test_multiworker_loader_matches_single_process(files):
    images, labels = files
    ds = PatchDataset(images=images, labels=labels, patch_size=(24, 24, 24), length=16, seed=7,
                      precompute_jobs=1)
    single = list(DataLoader(ds, batch_size=4, num_workers=0))
    multi = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert len(single) == len(multi) == 4
    for a, b in zip(single, multi):
        assert a["image"].shape == (4, 1, 24, 24, 24) and a["image"].dtype == torch.float32
        assert a["label"].shape == (4, 24, 24, 24) and a["label"].dtype == torch.uint8
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
        assert torch.equal(a["start"], b["start"]) and torch.equal(a["case"], b["case"])
    assert int(sum(b["foreground"].sum() for b in multi)) == 5  # indices 2, 5, 8, 11, 14
    ds.set_epoch(1)
    assert not torch.equal(next(iter(DataLoader(ds, batch_size=4)))["start"], single[0]["start"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS via /proc or psutil, checked on Linux")
def test_workers_reopen_by_path_and_never_hold_a_volume(files):
    images, labels = files
    volume_bytes = int(np.prod(BIG)) * 4
    compressed = sum(os.path.getsize(f) for f in images + labels)
    ds = PatchDataset(images=images, labels=labels, patch_size=(32, 32, 32), length=120, seed=1,
                      transform=RecordMemory(), precompute_jobs=1)
    per_worker: dict[int, list[tuple[int, int]]] = {}
    for batch in DataLoader(ds, batch_size=4, num_workers=2):
        for pid, rss, anon in zip(batch["pid"].tolist(), batch["rss"].tolist(), batch["anon"].tolist()):
            per_worker.setdefault(pid, []).append((rss, anon))
    assert len(per_worker) == 2 and os.getpid() not in per_worker
    for pid, mem in per_worker.items():
        # RSS is taken from the end of the worker's first batch: that batch first-touches library
        # code pages (collate, ...), which say nothing about data held.
        rss_growth = max(m[0] for m in mem) - mem[4][0]
        anon_growth = max(m[1] for m in mem) - mem[0][1]
        # 60 patches over 2 volumes per worker: a worker that had decompressed one whole volume
        # would grow its private memory by >= 16 MB. RSS also counts the memory-mapped compressed
        # file pages it touched (shared page cache, at most the files' size).
        assert anon_growth < volume_bytes / 4, f"worker {pid}: private memory grew {anon_growth / 2**20:.1f} MB"
        assert rss_growth < compressed + volume_bytes / 4, f"worker {pid}: RSS grew {rss_growth / 2**20:.1f} MB"


def test_sampler_argument_and_errors(files):
    from mlarray.training import PatchSampler

    images, labels = files
    s = PatchSampler(images, labels, patch_size=8, length=3)
    ds = PatchDataset(s)
    assert len(ds) == 3 and ds[0]["image"].shape == (1, 8, 8, 8)
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(TypeError):
        PatchDataset(s, patch_size=8)


def test_uint16_labels_become_int32(tmp_path):
    p = tmp_path / "u16.mla"
    MLArray(np.full((8, 8, 8), 300, np.uint16)).save(p)
    item = PatchDataset(images=[p], patch_size=4)[0]
    assert item["image"].dtype == torch.int32 and item["image"].shape == (1, 4, 4, 4)
    assert int(item["image"][0, 0, 0, 0]) == 300


def _epoch_starts(loader, ds, epochs):
    out = []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        out.append(torch.cat([b["start"] for b in loader]))
    return out


def test_persistent_workers_draw_new_patches_every_epoch(files):
    """``set_epoch`` reaches workers that live across epochs; each epoch equals the single-process one."""
    images, labels = files
    ds = PatchDataset(images=images, labels=labels, patch_size=(16, 16, 16), length=8, seed=11, precompute_jobs=1)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    persistent = _epoch_starts(loader, ds, 3)
    single = _epoch_starts(DataLoader(ds, batch_size=4, num_workers=0), ds, 3)
    assert not torch.equal(persistent[0], persistent[1]) and not torch.equal(persistent[1], persistent[2])
    assert not torch.equal(persistent[0], persistent[2])
    for p, s in zip(persistent, single):
        assert torch.equal(p, s)  # reproducible: the same patches whatever the workers
    again = _epoch_starts(loader, ds, 3)  # the same loader and workers, epochs replayed
    assert all(torch.equal(a, b) for a, b in zip(again, persistent))


@pytest.fixture(scope="module")
def nifti_files(tmp_path_factory):
    from nibabel.testing import data_path

    from mlarray.cli import main as cli

    d = tmp_path_factory.mktemp("nifti")
    out = {"anat": str(d / "anat.mla"), "ex4d": str(d / "ex4d.mla")}
    out["anat_nii"], out["ex4d_nii"] = (os.path.join(data_path, n) for n in ("anatomical.nii", "example4d.nii.gz"))
    assert cli(["convert", "-q", out["anat_nii"], out["anat"]]) == 0
    assert cli(["convert", "-q", out["ex4d_nii"], out["ex4d"]]) == 0
    return out


def test_items_are_channels_first_for_single_channel_and_4d_files(nifti_files):
    import nibabel as nib

    anat = PatchDataset(images=[nifti_files["anat"]], patch_size=(8, 8, 8), length=4, seed=0)
    batch = next(iter(DataLoader(anat, batch_size=4)))
    assert batch["image"].shape == (4, 1, 8, 8, 8)
    ex4d = PatchDataset(images=[nifti_files["ex4d"]], patch_size=(16, 16, 8), length=2, seed=0)
    batch = next(iter(DataLoader(ex4d, batch_size=2, num_workers=2)))
    assert batch["image"].shape == (2, 2, 16, 16, 8)  # the file's time axis (last) comes first
    ref = np.asarray(nib.load(nifti_files["ex4d_nii"]).dataobj)
    x, y, z = batch["start"][0].tolist()
    expected = np.moveaxis(ref[x:x + 16, y:y + 16, z:z + 8], -1, 0)
    assert np.array_equal(batch["image"][0].numpy(), expected)
    flat = PatchDataset(images=[nifti_files["anat"]], patch_size=(8, 8), length=2, seed=0)
    assert next(iter(DataLoader(flat, batch_size=2)))["image"].shape == (2, 1, 8, 8)


def test_big_endian_file_through_a_multiworker_loader(nifti_files):
    import nibabel as nib

    ref = np.asarray(nib.load(nifti_files["anat_nii"]).dataobj)
    assert ref.dtype == np.dtype(">i2")  # nibabel's file really is big-endian
    ds = PatchDataset(images=[nifti_files["anat"]], patch_size=(8, 8, 8), length=4, seed=2)
    for batch in DataLoader(ds, batch_size=2, num_workers=2):
        assert batch["image"].dtype == torch.int16
        for img, start in zip(batch["image"], batch["start"].tolist()):
            x, y, z = start
            assert np.array_equal(img[0].numpy(), ref[x:x + 8, y:y + 8, z:z + 8])


def test_both_sampler_and_arguments_is_an_mlarray_type_error(files):
    from mlarray import MLArrayError
    from mlarray.training import PatchSampler

    images, _ = files
    with pytest.raises(MLArrayError) as info:
        PatchDataset(PatchSampler(images, patch_size=8), patch_size=8)
    assert isinstance(info.value, TypeError)
