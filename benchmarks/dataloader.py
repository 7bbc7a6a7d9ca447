"""Patches per second delivered by a 2-worker PyTorch DataLoader: .mla vs .npy memmap vs .nii.gz.

Same volumes, same random windows (image + label, 3D patches), same DataLoader settings for the
three formats, measured in one run:

- ``mla``: :class:`mlarray.torch.PatchDataset` (workers reopen the files memory-mapped and
  decompress only the chunks under each patch);
- ``npy``: what nnU-Net does -- uncompressed ``.npy`` files opened with ``np.load(mmap_mode="r")``
  in each worker and sliced;
- ``nifti``: ``nibabel.load(path).dataobj[window]`` on ``.nii.gz`` (gzip must be inflated from the
  start of the file up to the window, for every patch).

Files are freshly written, so they sit in the page cache (a warm-cache measurement; on a cold
network filesystem the compressed formats gain from reading fewer bytes).

    python benchmarks/dataloader.py [--cases 4] [--shape 160 256 256] [--patch 128] [--batches 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def make_case(shape, seed):
    """A CT-like int16 volume (body ellipsoid, organs, noise) and its uint8 label map."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cz, cy, cx = (s / 2 for s in shape)
    body = (((z - cz) / (0.48 * shape[0])) ** 2 + ((y - cy) / (0.42 * shape[1])) ** 2
            + ((x - cx) / (0.46 * shape[2])) ** 2 < 1)
    img = np.where(body, 40, -1000).astype(np.int16)
    organ = ((z - cz * 0.9) / 20) ** 2 + ((y - cy * 1.1) / 35) ** 2 + ((x - cx * 0.8) / 30) ** 2 < 1
    tumour = ((z - cz) / 6) ** 2 + ((y - cy) / 6) ** 2 + ((x - cx * 1.3) / 6) ** 2 < 1
    img[organ] = 120
    img[tumour] = 200
    img += rng.normal(0, 12, size=shape).astype(np.int16)
    lab = np.zeros(shape, np.uint8)
    lab[organ] = 1
    lab[tumour] = 2
    return img, lab


class _WindowDataset:
    """Reads the planned (case, start) windows from .npy memmaps or .nii.gz via nibabel."""

    def __init__(self, kind, images, labels, plan, patch):
        self.kind, self.images, self.labels, self.plan, self.patch = kind, images, labels, plan, patch
        self._open = {}

    def _get(self, path):
        if path not in self._open:
            if self.kind == "npy":
                self._open[path] = np.load(path, mmap_mode="r")
            else:
                import nibabel as nib

                self._open[path] = nib.load(path).dataobj
        return self._open[path]

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, i):
        import torch

        case, start = self.plan[i]
        key = tuple(slice(s, s + p) for s, p in zip(start, self.patch))
        img = np.ascontiguousarray(self._get(self.images[case])[key])
        lab = np.ascontiguousarray(self._get(self.labels[case])[key])
        return {"image": torch.from_numpy(img.astype(np.int16, copy=False)[None]),
                "label": torch.from_numpy(lab.astype(np.uint8, copy=False))}


class _PlannedMLA:
    """The same planned windows through PatchSampler.read_patch (the .mla reading path)."""

    def __init__(self, sampler, plan):
        self.sampler, self.plan = sampler, plan

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, i):
        import torch

        case, start = self.plan[i]
        p = self.sampler.read_patch(case, start)
        return {"image": torch.from_numpy(p["image"][None]), "label": torch.from_numpy(p["label"])}


def measure(dataset, batches, batch_size, workers):
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False,
                        persistent_workers=False, prefetch_factor=2 if workers else None)
    it = iter(loader)
    for _ in range(2):  # warm-up: worker start-up and first file opens
        next(it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        b = next(it)
        n += b["image"].shape[0]
    dt = time.perf_counter() - t0
    del it
    return n / dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=4)
    ap.add_argument("--shape", type=int, nargs=3, default=[160, 256, 256])
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", nargs="+", default=["mla", "npy", "nifti"])
    ap.add_argument("--dir", default=None, help="where to write the data (default: a temp folder)")
    args = ap.parse_args(argv)

    import nibabel as nib

    from mlarray import Meta, MLArray
    from mlarray.training import PatchSampler

    root = args.dir or tempfile.mkdtemp(prefix="mla-dataloader-")
    os.makedirs(root, exist_ok=True)
    paths = {k: ([], []) for k in ("mla", "npy", "nifti")}
    t = time.perf_counter()
    for c in range(args.cases):
        img, lab = make_case(tuple(args.shape), c)
        for kind, ext in (("mla", ".mla"), ("npy", ".npy"), ("nifti", ".nii.gz")):
            ip, lp = os.path.join(root, f"case{c}_img{ext}"), os.path.join(root, f"case{c}_seg{ext}")
            if not os.path.exists(lp):
                if kind == "mla":
                    MLArray(img, spacing=[1.0, 0.8, 0.8]).save(ip)
                    MLArray(lab, meta=Meta(is_seg=True), spacing=[1.0, 0.8, 0.8]).save(lp)
                elif kind == "npy":
                    np.save(ip, img)
                    np.save(lp, lab)
                else:
                    aff = np.diag([1.0, 0.8, 0.8, 1.0])
                    nib.save(nib.Nifti1Image(img, aff), ip)
                    nib.save(nib.Nifti1Image(lab, aff), lp)
            paths[kind][0].append(ip)
            paths[kind][1].append(lp)
    print(f"data: {args.cases} cases of {args.shape} int16 + uint8 labels in {root} "
          f"(written in {time.perf_counter() - t:.1f} s)")
    raw = args.cases * int(np.prod(args.shape)) * 3
    for kind, (ims, las) in paths.items():
        size = sum(os.path.getsize(p) for p in ims + las)
        print(f"  {kind:6} {size / 2**20:8.1f} MB on disk ({raw / size:.1f}x vs raw)")

    n = (args.batches + 4) * args.batch_size
    sampler = PatchSampler(paths["mla"][0], paths["mla"][1], patch_size=args.patch, seed=0, length=n)
    rng = np.random.default_rng(0)
    plan = []
    for _ in range(n):
        case = int(rng.integers(args.cases))
        start = [int(rng.integers(0, max(s - args.patch, 0) + 1)) for s in args.shape]
        plan.append((case, start))

    print(f"\n{args.workers}-worker DataLoader, batch {args.batch_size}, patch {args.patch}^3 image+label, "
          f"{args.batches} batches after 2 warm-up batches:")
    from mlarray.torch import PatchDataset

    sampler.precompute_foreground()  # once, in the main process; workers receive the cache
    datasets = {kind: _PlannedMLA(sampler, plan) if kind == "mla" else
                _WindowDataset(kind, *paths[kind], plan, [args.patch] * 3) for kind in args.formats}
    if "mla" in args.formats:
        datasets["mla PatchDataset (1/3 fg)"] = PatchDataset(sampler, length=n)
    runs: dict[str, list[float]] = {k: [] for k in datasets}
    for _ in range(args.repeat):  # interleaved, so background load hits every format alike
        for kind, ds in datasets.items():
            runs[kind].append(measure(ds, args.batches, args.batch_size, args.workers))
    results = {k: float(np.median(v)) for k, v in runs.items()}
    for kind, v in runs.items():
        print(f"  {kind:26} {results[kind]:8.1f} patches/s (median of {len(v)}: "
              f"{', '.join(f'{x:.0f}' for x in v)})")
    return results


if __name__ == "__main__":
    main()
