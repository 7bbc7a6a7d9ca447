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
    assert item["image"].dtype == torch.int32 and int(item["image"][0, 0, 0]) == 300
