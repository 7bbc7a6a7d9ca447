"""MONAI training patches per second: MONAI's NIfTI loading vs ``.mla`` through ``mlarray.monai``.

One run, the same volumes stored as ``.nii.gz``, ``.nii`` and ``.mla``, the same 2-worker
``monai.data.DataLoader`` (batch 2), rounds alternating between the pipelines so that load on the
shared machine hits them alike; the table gives the median of the rounds and the ratio to MONAI's
usual pipeline (first row). Each round times a fresh DataLoader from creation to its last batch. Pipelines:

- ``nii.gz`` / ``nii``: MONAI's usual patch pipeline, ``LoadImaged`` (NibabelReader) +
  ``EnsureChannelFirstd`` + ``RandCropByPosNegLabeld`` (pos 1, neg 2: a third on foreground);
  ``num_samples`` patches are cut from each loaded volume (1, and 4 as MONAI users amortise loading);
- ``mla, whole volume``: the same pipeline reading ``.mla`` with ``MLArrayReader`` (the reader alone);
- ``mla, lazy``: ``MLArrayPatchDataset`` (reads only the chunks under each patch, a third on
  foreground), same patch size. Its foreground locations are found once per case before timing
  (``precompute_jobs``, as a training run does once); MONAI's crop searches the whole label map
  again at every load, which is part of what its rows measure.

Corpus: CT-like int16 volumes with 3-class labels and MR-like float32 two-channel volumes (channel
axis first in the ``.mla``, last in the NIfTI, as converters write them). Files are freshly written
and sit in the page cache (a warm-cache measurement).

    python benchmarks/monai_patches.py [--patch 96] [--batches 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dataloader import make_case  # noqa: E402  (the CT phantom of the DataLoader benchmark)

CORPUS = {"CT int16": dict(shape=(160, 224, 224), channels=0, cases=3),
          "MR float32, 2 channels": dict(shape=(128, 192, 192), channels=2, cases=2)}


def write_corpus(folder: str, kind: str, spec: dict) -> list[dict]:
    import nibabel as nib

    from mlarray import Meta, MLArray

    cases = []
    for i in range(spec["cases"]):
        img, lab = make_case(spec["shape"], seed=i)
        aff = np.diag([0.8, 0.7, 0.7, 1.0])
        stem = os.path.join(folder, f"{kind.split()[0]}{i}")
        if spec["channels"]:
            img = np.stack([img.astype(np.float32) / 100 + c for c in range(spec["channels"])], axis=0)
            nii_img = np.moveaxis(img, 0, -1)
            labels = ["channel", "spatial", "spatial", "spatial"]
        else:
            nii_img, labels = img, None
        for ext in (".nii.gz", ".nii"):
            nib.save(nib.Nifti1Image(nii_img, aff), stem + ext)
            nib.save(nib.Nifti1Image(lab, aff), stem + "_seg" + ext)
        MLArray(img, affine=aff, axis_labels=labels, meta=Meta(spatial={"coord_system": "RAS"})).save(stem + ".mla")
        MLArray(lab, affine=aff, meta=Meta(spatial={"coord_system": "RAS"}, is_seg=True)).save(stem + "_seg.mla")
        cases.append({ext: {"image": stem + ext, "label": stem + "_seg" + ext} for ext in (".nii.gz", ".nii", ".mla")})
    return cases


def monai_dataset(data: list, reader, patch: int, num_samples: int):
    from monai.data import Dataset
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, RandCropByPosNegLabeld

    keys = ["image", "label"]
    return Dataset(data, Compose([
        LoadImaged(keys, reader=reader, image_only=True), EnsureChannelFirstd(keys),
        RandCropByPosNegLabeld(keys, label_key="label", spatial_size=(patch,) * 3, pos=1, neg=2,
                               num_samples=num_samples)]))


def pipelines(cases: list, patch: int, n_patches: int) -> dict:
    from monai.data import NibabelReader

    from mlarray.monai import MLArrayPatchDataset, MLArrayReader

    def volumes(ext, n):
        return [cases[i % len(cases)][ext] for i in range(n)]

    out = {}
    for ext in (".nii.gz", ".nii"):
        out[f"MONAI {ext} (NibabelReader), 1 patch per load"] = monai_dataset(volumes(ext, n_patches), NibabelReader(),
                                                                               patch, 1)
        out[f"MONAI {ext} (NibabelReader), 4 patches per load"] = monai_dataset(volumes(ext, n_patches // 4),
                                                                                NibabelReader(), patch, 4)
    out[".mla whole volume (MLArrayReader), 1 patch per load"] = monai_dataset(volumes(".mla", n_patches),
                                                                               MLArrayReader(), patch, 1)
    out[".mla lazy (MLArrayPatchDataset)"] = MLArrayPatchDataset([c[".mla"] for c in cases], patch_size=patch,
                                                                  num_samples=n_patches, seed=0, precompute_jobs=1)
    return out


def patches_per_second(dataset) -> tuple[float, int]:
    """A fresh DataLoader from creation to its last batch: worker start-up included, as at every epoch
    with non-persistent workers (forked workers start in well under a second)."""
    from monai.data import DataLoader

    t0 = time.perf_counter()
    n = 0
    for batch in DataLoader(dataset, batch_size=2, num_workers=2):
        n += int(batch["image"].shape[0])
    return n / (time.perf_counter() - t0), n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--batches", type=int, default=12, help="batches of 2 per pipeline and round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    import monai

    n_patches = 2 * args.batches
    print(f"monai {monai.__version__}; patch {args.patch}^3; {n_patches} patches per pipeline and round; "
          f"2 workers, batch 2; median of {args.rounds} alternating rounds\n")
    with tempfile.TemporaryDirectory() as folder:
        for kind, spec in CORPUS.items():
            cases = write_corpus(folder, kind, spec)
            sizes = {ext: sum(os.path.getsize(c[ext][k]) for c in cases for k in ("image", "label")) / 1e6
                     for ext in (".nii.gz", ".nii", ".mla")}
            runs = pipelines(cases, args.patch, n_patches)
            rates: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name, ds in runs.items():
                    rates[name].append(patches_per_second(ds)[0])
            base = statistics.median(rates[next(iter(runs))])
            print(f"### {kind}, {spec['cases']} cases of {spec['shape']}"
                  + (f" x {spec['channels']} channels" if spec["channels"] else ""))
            print("| pipeline | on disk | patches/s | x MONAI .nii.gz |\n|---|---|---|---|")
            for name, values in rates.items():
                ext = ".mla" if ".mla" in name else (".nii.gz" if ".nii.gz" in name else ".nii")
                med = statistics.median(values)
                print(f"| {name} | {sizes[ext]:.1f} MB | {med:.1f} | {med / base:.2f} |")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
