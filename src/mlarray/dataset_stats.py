"""Dataset-level statistics over many ``.mla`` files, computed in parallel.

:func:`dataset_stats` gathers what a training pipeline plans with (the nnU-Net "fingerprint"):

- **spacing distribution** (per spatial axis: min, percentiles, median, max; the most common
  spacings) and **shape distribution** -- from the JSON headers only;
- **intensity statistics** of the images: exact ``min``/``max``/``mean``/``std`` merged from the
  stored per-file statistics (Chan et al. pairwise merge of count/mean/M2), and percentiles;
- **class frequencies** of the segmentations (``meta.is_seg``): voxels per class, fraction of all
  voxels, and the number of files containing each class (one streamed pass per label file; label
  files compress so well that this is cheap).

Percentiles are merged honestly (``method``):

``"histogram"`` (default)
    Two passes. The global range comes from the stored per-file ``min``/``max`` (headers only);
    then every file is streamed chunk by chunk **in parallel** into a histogram over that common
    range, and the per-file histograms are summed. Integer data spanning at most 2**20 values is
    binned per value, so the percentiles are **exact** (numpy's ``linear`` method); otherwise
    2**16 equal bins over ``[min, max]`` bound the error by one bin width, ``(max - min) / 2**16``
    (reported as ``percentile_error``).
``"stored"`` (``--fast``)
    Headers only, no pixel reads: each file's distribution is modelled as a piecewise-linear CDF
    through its stored percentiles (``min``, 0.5, 1, 5, 25, 50, 75, 95, 99, 99.5, ``max``), the
    count-weighted mixture of these CDFs is inverted. **Approximate**: exact at the files' shared
    knots only when all files have the same distribution; in general the error is bounded by the
    gap between neighbouring stored percentiles of the files (e.g. between p95 and p99).

Parallelism goes through :func:`mlarray.parallel.parallel_map`, the same executor logic as
``mlarray convert``: ``jobs=N`` local processes or a ``dask.distributed`` scheduler address.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np

from ._array import MLArray
from ._data.chunks import iter_chunk_slices, working_chunk_shape
from ._errors import InputError
from ._frameworks._geometry import array_shape, channel_first
from ._types import PathLike as _PathLike
from .parallel import describe_error, parallel_map
from .stats import DEFAULT_PERCENTILES as STORED_PERCENTILES
from .stats import compute_label_stats, compute_stats, percentiles_from_counts

__all__ = ["dataset_stats", "find_mla_files", "file_summary", "format_report", "foreground_stats",
           "foreground_images", "pair_images_and_labels"]

# the percentiles every file stores, and the median
DEFAULT_PERCENTILES = tuple(sorted({*STORED_PERCENTILES, 50}))
EXACT_RANGE_LIMIT = 2**20
FLOAT_BINS = 2**16


# ----------------------------------------------------------------------------- per-file work

def find_mla_files(paths: Sequence[_PathLike]) -> list[str]:
    """``.mla`` files in the given files/directories (directories searched recursively, sorted)."""
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            out += sorted(str(f) for f in Path(p).rglob("*.mla") if f.is_file() and not f.name.startswith("."))
        else:
            out.append(p)
    return out


def file_summary(path: _PathLike) -> dict:
    """Header facts of one file (no pixel reads): shape, dtype, spacing, is_seg, stored stats."""

    img = MLArray.open(path, mmap_mode="r")
    meta = img.meta
    st = meta.stats
    d: dict[str, Any] = {"file": os.fspath(path), "has_array": bool(meta.has_array), "is_seg": bool(meta.is_seg)}
    if meta.has_array:
        shape = array_shape(img, path)
        d.update(shape=list(shape), dtype=str(img.dtype),
                 spatial_shape=[shape[a] for a in img.spatial_axes],
                 spacing=list(meta.spatial.spacing) if meta.spatial.spacing else None,
                 spacing_units=_spacing_units(meta.spatial.axis_units, img.spatial_axes, len(shape)),
                 stats=None if st.count is None else {
                     "min": st.min, "max": st.max, "mean": st.mean, "std": st.std, "count": st.count,
                     "nan_count": st.nan_count, "percentiles": dict(st.percentiles or {}), "median": st.median})
        d["classes"] = {str(c["id"]): c.get("name") for c in (meta.classes or [])}
    return d


def _spacing_units(units: Optional[Sequence[Any]], spatial: Sequence[int], ndim: int) -> Optional[list[str]]:
    """One unit per spatial axis (``axis_units`` holds one per spatial axis, or one per axis)."""
    if not units:
        return None
    units = [str(u) for u in units]
    return [units[a] for a in spatial] if len(units) == ndim and ndim != len(spatial) else units


def _file_stats_fallback(path: str) -> dict:
    """Stored statistics are missing: compute them (streamed) like the writer would."""

    img = MLArray.open(path, mmap_mode="r")
    array_shape(img, path)  # a metadata-only file: NoArrayError naming it
    s = compute_stats(img.levels[0])  # the base array, read chunk-aligned (and verified when the open verifies)
    return {k: s[k] for k in ("min", "max", "mean", "std", "count", "nan_count", "percentiles", "median")}


def _histogram_task(args: tuple[str, float, float, bool]) -> tuple[np.ndarray, np.ndarray, int]:
    """Sparse histogram of one file over the common range: (bin indices, counts, non-finite)."""
    path, lo, hi, integer = args

    img = MLArray.open(path, mmap_mode="r")
    shape = array_shape(img, path)
    nbins = int(hi - lo + 1) if integer else FLOAT_BINS
    counts = np.zeros(nbins, dtype=np.int64)
    skipped = 0
    work = working_chunk_shape(shape, 3 * np.dtype(img.dtype).itemsize + 16, img.chunks)
    scale = (FLOAT_BINS / (hi - lo)) if (not integer and hi > lo) else 0.0
    for sl in iter_chunk_slices(shape, work):
        block = np.asarray(img[sl]).reshape(-1)
        if block.dtype == np.bool_:
            block = block.view(np.uint8)
        if integer:
            idx = block.astype(np.int64) - int(lo)
        else:
            x = block.astype(np.float64)
            ok = np.isfinite(x)
            if not ok.all():
                skipped += int(x.size - np.count_nonzero(ok))
                x = x[ok]
            idx = ((x - lo) * scale).astype(np.int64)
        np.clip(idx, 0, nbins - 1, out=idx)
        counts += np.bincount(idx, minlength=nbins)
    nz = np.flatnonzero(counts)
    return nz.astype(np.int64), counts[nz], skipped


def _label_task(path: str) -> dict:

    img = MLArray.open(path, mmap_mode="r")
    array_shape(img, path)  # a metadata-only file: NoArrayError naming it
    counts = compute_label_stats(img.levels[0])["voxel_counts"]
    return {"file": path, "voxel_counts": counts}


# ----------------------------------------------------------------------------- merging

def _merge_moments(stats: list[dict]) -> dict:
    """Exact global count/mean/std from per-file (count, mean, std) (Chan et al.)."""
    n, mean, m2 = 0, 0.0, 0.0
    for s in stats:
        nb = int(s["count"] or 0)
        if nb == 0 or s["mean"] is None:
            continue
        mb, m2b = float(s["mean"]), float(s["std"] or 0.0) ** 2 * nb
        tot = n + nb
        delta = mb - mean
        mean += delta * nb / tot
        m2 += m2b + delta * delta * n * nb / tot
        n = tot
    return {"count": n, "mean": mean if n else None, "std": math.sqrt(m2 / n) if n else None}


def _percentiles_from_stored(stats: list[dict], percentiles: Sequence[float]) -> list[Optional[float]]:
    """Invert the count-weighted mixture of per-file piecewise-linear CDFs through stored knots."""
    curves = []
    for s in stats:
        if not s["count"] or s["min"] is None:
            continue
        knots = [(0.0, float(s["min"]))]
        for k, v in (s.get("percentiles") or {}).items():
            if v is not None:
                knots.append((float(k), float(v)))
        if s.get("median") is not None:
            knots.append((50.0, float(s["median"])))
        knots.append((100.0, float(s["max"])))
        knots.sort()
        q = np.array([k[0] for k in knots]) / 100.0
        x = np.maximum.accumulate(np.array([k[1] for k in knots]))
        curves.append((q, x, int(s["count"])))
    if not curves:
        return [None] * len(percentiles)
    grid = np.unique(np.concatenate([c[1] for c in curves]))
    total = sum(c[2] for c in curves)
    cdf = np.zeros_like(grid, dtype=np.float64)
    for q, x, n in curves:
        if x[-1] == x[0]:
            cdf += n / total * (grid >= x[0])
        else:
            # right-continuous for flat runs: take the largest q at a repeated x
            xu, last = np.unique(x[::-1], return_index=True)
            qu = q[::-1][last]
            cdf += n / total * np.interp(grid, xu, qu, left=0.0, right=1.0)
    cdf = np.maximum.accumulate(cdf)
    out: list[Optional[float]] = []
    for p in percentiles:
        t = float(p) / 100.0
        j = int(np.searchsorted(cdf, t, side="left"))
        if j == 0:
            out.append(float(grid[0]))
        elif j >= len(grid):
            out.append(float(grid[-1]))
        else:
            c0, c1 = cdf[j - 1], cdf[j]
            f = 0.0 if c1 == c0 else (t - c0) / (c1 - c0)
            out.append(float(grid[j - 1] + f * (grid[j] - grid[j - 1])))
    return out


def _distribution(values: np.ndarray) -> dict:
    """min / p10 / median / p90 / max per column."""
    if values.size == 0:
        return {}
    q = np.percentile(values, [0, 10, 50, 90, 100], axis=0)
    return {name: q[i].tolist() for i, name in enumerate(("min", "p10", "median", "p90", "max"))}


# ----------------------------------------------------------------------------- public API

def dataset_stats(paths: Union[_PathLike, Sequence[_PathLike]], *, jobs: int = 1, scheduler: Any = None,
                  method: str = "histogram", percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                  class_frequencies: bool = True) -> dict:
    """Statistics of a whole dataset (files or directories of ``.mla``), computed in parallel.

    Unreadable files are listed under ``failed`` and left out of everything else.

    Parameters
    ----------
    paths : str, os.PathLike or a sequence of them
        ``.mla`` files and directories (searched recursively).
    jobs : int
        Local worker processes.
    scheduler : str, distributed.Client or distributed.LocalCluster, optional
        A ``dask.distributed`` scheduler (e.g. ``"tcp://10.0.0.5:8786"``) to run on instead of local
        processes.
    method : {"histogram", "stored"}
        ``"histogram"``: percentiles from a histogram of every voxel (exact for integer data spanning
        at most 2**20 values, else within ``(max - min) / 2**16``); ``"stored"``: from the files'
        stored percentiles, headers only (approximate). See the module docstring.
    percentiles : sequence of float
        The intensity percentiles to report (0 to 100).
    class_frequencies : bool
        Count the voxels of each class over the segmentation files (one streamed pass per file).

    Returns
    -------
    dict
        JSON-ready: ``files``, ``images`` and ``segmentations`` (counts), ``spacing`` and ``shape``
        (distributions), ``intensity`` (``min``, ``max``, ``mean``, ``std``, ``percentiles``,
        ``method``, ``exact``, ``percentile_error``; over the image files, None without any),
        ``classes`` (per label value: ``voxels``, ``fraction``, ``files``; over the segmentation
        files) and ``failed`` (file -> error).

    Raises
    ------
    InputError
        ``method`` is neither ``"histogram"`` nor ``"stored"`` (also a ``ValueError``).
    """
    if method not in ("histogram", "stored"):
        raise InputError(f"method={method!r}; use 'histogram' (exact or bounded error) or 'stored' (approximate)")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = find_mla_files(paths)
    failed: dict[str, str] = {}

    summaries = []
    for f, s in zip(files, parallel_map(file_summary, files, jobs=jobs, scheduler=scheduler, errors="collect")):
        if isinstance(s, Exception):
            failed[f] = describe_error(s)
        elif s["has_array"]:
            summaries.append(s)
    images = [s for s in summaries if not s["is_seg"]]
    segs = [s for s in summaries if s["is_seg"]]

    missing = [s for s in images if s["stats"] is None]
    for s, st in zip(missing, parallel_map(_file_stats_fallback, [s["file"] for s in missing], jobs=jobs,
                                           scheduler=scheduler, errors="collect")):
        if isinstance(st, Exception):
            failed[s["file"]] = describe_error(st)
            images.remove(s)
        else:
            s["stats"] = st

    report: dict[str, Any] = {"files": len(files), "images": len(images), "segmentations": len(segs)}
    spacings = [s["spacing"] for s in summaries if s["spacing"]]
    ndims = {len(sp) for sp in spacings}
    if spacings and len(ndims) == 1:
        arr = np.asarray(spacings, dtype=np.float64)
        uniq, cnt = np.unique(np.round(arr, 6), axis=0, return_counts=True)
        order = np.argsort(-cnt, kind="stable")[:10]
        report["spacing"] = {**_distribution(arr), "most_common": [
            {"spacing": uniq[i].tolist(), "files": int(cnt[i])} for i in order]}
    elif spacings:
        report["spacing"] = {"mixed_ndim": sorted(ndims)}
    # Spacings in mm and in µm pooled into one median are meaningless (a nnU-Net target spacing from them
    # would be off by 1000x): report the mix so the user sees it, instead of converting silently.
    unit_sets = {tuple(s["spacing_units"]) for s in summaries if s.get("spacing") and s.get("spacing_units")}
    if len(unit_sets) > 1:
        report["spacing_units"] = {"mixed": [list(u) for u in sorted(unit_sets)]}
        mix = ", ".join("/".join(u) for u in sorted(unit_sets))
        warnings.warn(f"the files' spacings are in different units ({mix}): their spacing statistics mix them; "
                      "compute statistics per unit (one dataset per folder)",
                      UserWarning, stacklevel=2)
    elif unit_sets:
        report["spacing_units"] = list(next(iter(unit_sets)))
    shapes = [s["spatial_shape"] for s in summaries]
    if shapes and len({len(x) for x in shapes}) == 1:
        report["shape"] = _distribution(np.asarray(shapes, dtype=np.float64))

    report["intensity"] = _intensity(images, percentiles, method, jobs, scheduler, failed)
    if class_frequencies and segs:
        report["classes"] = _classes(segs, jobs, scheduler, failed)
    report["failed"] = failed
    return report


def _intensity(images: list[dict], percentiles: Sequence[float], method: str, jobs: int, scheduler: Any,
               failed: dict[str, str]) -> Optional[dict]:
    stats = [s["stats"] for s in images if s["stats"] and s["stats"]["count"]]
    if not stats:
        return None
    lo = min(s["min"] for s in stats if s["min"] is not None)
    hi = max(s["max"] for s in stats if s["max"] is not None)
    out: dict[str, Any] = {"min": lo, "max": hi, **_merge_moments(stats), "method": method}
    keys = [format(float(p), "g") for p in percentiles]
    if method == "stored":
        values = _percentiles_from_stored(stats, percentiles)
        out.update(percentiles=dict(zip(keys, values)), exact=False, percentile_error=None,
                   note="approximate: piecewise-linear CDF through each file's stored percentiles")
        return out
    dtypes = {np.dtype(s["dtype"]) for s in images}
    integer = all(d.kind in "biu" for d in dtypes) and float(hi) - float(lo) < EXACT_RANGE_LIMIT
    lo_h, hi_h = (int(lo), int(hi)) if integer else (float(lo), float(hi))
    args = [(s["file"], lo_h, hi_h, integer) for s in images]
    nbins = int(hi_h - lo_h + 1) if integer else FLOAT_BINS
    merged = np.zeros(nbins, dtype=np.int64)
    skipped = 0
    for s, res in zip(images, parallel_map(_histogram_task, args, jobs=jobs, scheduler=scheduler, errors="collect")):
        if isinstance(res, Exception):
            failed[s["file"]] = describe_error(res)
            continue
        idx, cnt, sk = res
        np.add.at(merged, idx, cnt)
        skipped += sk
    values = percentiles_from_counts(merged, lo_h, hi_h, integer, percentiles)
    exact = integer or hi_h == lo_h
    out.update(percentiles=dict(zip(keys, values)), exact=exact,
               percentile_error=0.0 if exact else (hi_h - lo_h) / FLOAT_BINS, histogram_bins=nbins)
    if skipped:
        out["non_finite_skipped"] = skipped
    return out


def _classes(segs: list[dict], jobs: int, scheduler: Any, failed: dict[str, str]) -> dict:
    total = 0
    voxels: dict[int, int] = {}
    files: dict[int, int] = {}
    names: dict[str, Any] = {}
    for s, res in zip(segs, parallel_map(_label_task, [s["file"] for s in segs], jobs=jobs, scheduler=scheduler,
                                         errors="collect")):
        if isinstance(res, Exception):
            failed[s["file"]] = describe_error(res)
            continue
        names.update({k: v for k, v in s.get("classes", {}).items() if v})
        for k, n in res["voxel_counts"].items():
            voxels[int(k)] = voxels.get(int(k), 0) + int(n)
            files[int(k)] = files.get(int(k), 0) + 1
            total += int(n)
    return {str(k): {"name": names.get(str(k)), "voxels": voxels[k], "fraction": voxels[k] / total if total else None,
                     "files": files[k]} for k in sorted(voxels)}


def format_report(report: dict) -> str:
    """Human-readable summary of :func:`dataset_stats`."""
    lines = [f"files          {report['files']} ({report['images']} images, {report['segmentations']} segmentations)"]
    sp = report.get("spacing")
    if sp and "median" in sp:
        lines.append(f"spacing        median {_fmtv(sp['median'])}, min {_fmtv(sp['min'])}, max {_fmtv(sp['max'])}")
        common = ", ".join(f"{_fmtv(c['spacing'])} x{c['files']}" for c in sp["most_common"][:3])
        lines.append(f"               most common: {common}")
    su = report.get("spacing_units")
    if isinstance(su, dict):
        mix = "; ".join("/".join(u) for u in su["mixed"])
        lines.append(f"spacing units  MIXED: {mix} (pooled statistics mix them)")
    elif su:
        lines.append(f"spacing units  {'/'.join(su)}")
    sh = report.get("shape")
    if sh:
        lines.append(f"shape          median {_fmtv(sh['median'])}, min {_fmtv(sh['min'])}, max {_fmtv(sh['max'])}")
    it = report.get("intensity")
    if it:
        lines.append(f"intensity      min {it['min']:.6g}, max {it['max']:.6g}, mean {it['mean']:.6g}, "
                     f"std {it['std']:.6g} over {it['count']} voxels")
        pct = ", ".join(f"p{k} {v:.6g}" for k, v in it["percentiles"].items() if v is not None)
        how = ("exact" if it["exact"] else
               f"within {it['percentile_error']:.3g}" if it.get("percentile_error") else "approximate")
        lines.append(f"percentiles    {pct} ({it['method']}, {how})")
    for k, c in (report.get("classes") or {}).items():
        name = f" ({c['name']})" if c.get("name") else ""
        lines.append(f"class {k:<8} {c['voxels']} voxels, {100 * c['fraction']:.3f}%, in {c['files']} file(s){name}")
    for c, fg in (report.get("foreground_intensity_properties_per_channel") or {}).items():
        lines.append(f"foreground {c:<3} mean {fg['mean']:.6g}, median {fg['median']:.6g}, std {fg['std']:.6g}, "
                     f"min {fg['min']:.6g}, max {fg['max']:.6g}, p0.5 {fg['percentile_00_5']:.6g}, "
                     f"p99.5 {fg['percentile_99_5']:.6g} over {fg['count']} voxels")
    for f, err in report.get("failed", {}).items():
        lines.append(f"FAILED         {f}: {err}")
    return "\n".join(lines)


def _fmtv(v: Sequence[float]) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"


# ----------------------------------------------------------------------------- foreground intensities (nnU-Net)

_FG_PERCENTILES = (0.5, 50.0, 99.5)
_CHANNEL_SUFFIX = re.compile(r"_\d{4}$")  # nnU-Net's per-channel file suffix: case_0000.mla, case_0001.mla


def foreground_images(paths: Sequence[_PathLike]) -> list[str]:
    """The image files (with an array, not segmentations) among ``paths`` (files or directories)."""

    out = []
    for f in find_mla_files(paths):
        meta = MLArray.open(f, mmap_mode="r").meta
        if meta.has_array and not meta.is_seg:
            out.append(f)
    return out


def pair_images_and_labels(images: Sequence[_PathLike], labels: Sequence[_PathLike]) -> list[tuple[str, str]]:
    """Pair image files with label files: by name (``case.mla`` labels ``case.mla``, and ``case_0000.mla``,
    ``case_0001.mla``... as nnU-Net names channel files), else, when the counts agree, in sorted order."""
    image_paths = [os.fspath(p) for p in images]
    label_paths = [os.fspath(p) for p in labels]
    by_stem = {Path(p).stem: p for p in label_paths}
    pairs = []
    for img in image_paths:
        stem = Path(img).stem
        label = by_stem.get(stem) or by_stem.get(_CHANNEL_SUFFIX.sub("", stem))
        if label is None:
            break
        pairs.append((img, label))
    else:
        return pairs
    if len(image_paths) == len(label_paths):
        return list(zip(sorted(image_paths), sorted(label_paths)))
    raise InputError(f"cannot pair {len(images)} image file(s) with {len(labels)} label file(s): name each label "
                     "like its image (case.mla, or case_0000.mla for the image as nnU-Net names it), or give as "
                     "many labels as images")


def _foreground_blocks(image: str, label: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(channels, foreground mask) per block: the image's non-spatial axes merged in front (one channel
    without them), the label's non-spatial axes reduced with ``max``; reads every chunk once."""

    img, lab = MLArray.open(image, mmap_mode="r"), MLArray.open(label, mmap_mode="r")
    shape, lab_shape = array_shape(img, image), array_shape(lab, label)
    axes, lab_axes = img.spatial_axes, lab.spatial_axes
    spatial = [shape[a] for a in axes]
    if [lab_shape[a] for a in lab_axes] != spatial:
        raise InputError(f"{label}: spatial shape {[lab_shape[a] for a in lab_axes]} does not match {image} "
                         f"{spatial}; foreground statistics need the segmentation of each image")
    channels = int(np.prod([shape[a] for a in range(len(shape)) if a not in axes], dtype=np.int64))
    work = working_chunk_shape(tuple(spatial), channels * (np.dtype(img.dtype).itemsize + 8) + 16, None)
    lab_other = tuple(a for a in range(len(lab_shape)) if a not in lab_axes)
    for sl in iter_chunk_slices(tuple(spatial), work):
        key, lkey = [slice(None)] * len(shape), [slice(None)] * len(lab_shape)
        for a, s in zip(axes, sl):
            key[a] = s
        for a, s in zip(lab_axes, sl):
            lkey[a] = s
        mask = np.asarray(lab[tuple(lkey)])
        mask = (mask.max(axis=lab_other) if lab_other else mask) > 0
        if mask.any():
            yield channel_first(np.asarray(img[tuple(key)]), axes), mask


def _foreground_moments_task(pair: tuple[str, str]) -> tuple[str, list[dict]]:
    """The image's dtype and, per channel, count, mean, M2, min, max of its foreground voxels."""

    dtype = str(MLArray.open(pair[0], mmap_mode="r").dtype)
    out: list[dict] = []
    for block, mask in _foreground_blocks(*pair):
        if not out:
            out = [{"count": 0, "mean": 0.0, "m2": 0.0, "min": None, "max": None} for _ in range(len(block))]
        for c, acc in enumerate(out):
            v = block[c][mask].astype(np.float64)
            n, mean = len(v), float(v.mean())
            m2 = float(((v - mean) ** 2).sum())
            tot = acc["count"] + n
            delta = mean - acc["mean"]
            acc["mean"] += delta * n / tot
            acc["m2"] += m2 + delta * delta * acc["count"] * n / tot
            acc["count"] = tot
            acc["min"] = float(v.min()) if acc["min"] is None else min(acc["min"], float(v.min()))
            acc["max"] = float(v.max()) if acc["max"] is None else max(acc["max"], float(v.max()))
    return dtype, out


def _foreground_histogram_task(args: tuple[tuple[str, str], list[tuple[float, float]], bool]
                               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per channel: sparse histogram (bin indices, counts) of the foreground voxels over the common range."""
    pair, ranges, integer = args
    counts = [np.zeros(int(hi - lo + 1) if integer else FLOAT_BINS, dtype=np.int64) for lo, hi in ranges]
    for block, mask in _foreground_blocks(*pair):
        for c, ((lo, hi), hist) in enumerate(zip(ranges, counts)):
            v = block[c][mask]
            if integer:
                idx = v.astype(np.int64) - int(lo)
            else:
                scale = FLOAT_BINS / (hi - lo) if hi > lo else 0.0
                idx = ((v.astype(np.float64) - lo) * scale).astype(np.int64)
            np.clip(idx, 0, len(hist) - 1, out=idx)
            hist += np.bincount(idx, minlength=len(hist))
    return [(np.flatnonzero(h), h[np.flatnonzero(h)]) for h in counts]


def foreground_stats(pairs: Sequence[tuple[_PathLike, _PathLike]], *, jobs: int = 1, scheduler: Any = None,
                     failed: Optional[dict] = None) -> dict:
    """Intensity statistics of the voxels that the segmentations mark as foreground (label > 0), per channel.

    The figures and names of nnU-Net's fingerprint (``foreground_intensity_properties_per_channel``,
    which its CT normalisation clips and z-scores with): ``mean``, ``median``, ``std``, ``min``, ``max``,
    ``percentile_00_5``, ``percentile_99_5``, plus ``count`` and ``exact``. They are computed over
    every foreground voxel of every case (nnU-Net estimates the dataset figures from 10,000 voxels
    drawn per case; its per-case figures are exact and equal ours for one case). Percentiles are
    exact for integer data spanning up to 2**20 values, else within ``(max - min) / 2**16``. Two
    streamed passes, both in parallel. Channels are the images' non-spatial axes (merged).
    """
    failed = {} if failed is None else failed
    pairs = [(os.fspath(i), os.fspath(lab)) for i, lab in pairs]
    done, moments, dtypes = [], [], set()
    for pair, res in zip(pairs, parallel_map(_foreground_moments_task, pairs, jobs=jobs, scheduler=scheduler,
                                             errors="collect")):
        if isinstance(res, Exception):
            failed[pair[0]] = describe_error(res)
        elif res[1]:  # cases without foreground add nothing, as in nnU-Net
            done.append(pair)
            dtypes.add(np.dtype(res[0]))
            moments.append(res[1])
    if not moments:
        return {}
    n_channels = {len(m) for m in moments}
    if len(n_channels) != 1:
        raise InputError(f"the images have different numbers of channels ({sorted(n_channels)}); "
                         "foreground statistics are per channel")
    out: dict[str, dict] = {}
    ranges = [(min(m[c]["min"] for m in moments), max(m[c]["max"] for m in moments)) for c in range(len(moments[0]))]
    integer = all(d.kind in "biu" for d in dtypes) and all(hi - lo < EXACT_RANGE_LIMIT for lo, hi in ranges)
    if integer:
        ranges = [(int(lo), int(hi)) for lo, hi in ranges]
    merged = [np.zeros(int(hi - lo + 1) if integer else FLOAT_BINS, dtype=np.int64) for lo, hi in ranges]
    args = [(pair, ranges, integer) for pair in done]
    for pair, res in zip(done, parallel_map(_foreground_histogram_task, args, jobs=jobs, scheduler=scheduler,
                                            errors="collect")):
        if isinstance(res, Exception):
            failed[pair[0]] = describe_error(res)
            continue
        for hist, (idx, cnt) in zip(merged, res):
            np.add.at(hist, idx, cnt)
    for c, (lo, hi) in enumerate(ranges):
        stats = [{"count": m[c]["count"], "mean": m[c]["mean"],
                  "std": math.sqrt(m[c]["m2"] / m[c]["count"]) if m[c]["count"] else 0.0} for m in moments]
        total = _merge_moments(stats)
        p005, median, p995 = percentiles_from_counts(merged[c], lo, hi, integer, _FG_PERCENTILES)
        exact = integer or hi == lo
        out[str(c)] = {"mean": total["mean"], "median": median, "std": total["std"], "min": float(lo),
                       "max": float(hi), "percentile_99_5": p995, "percentile_00_5": p005,
                       "count": total["count"], "exact": exact,
                       "percentile_error": 0.0 if exact else (hi - lo) / FLOAT_BINS}
    return out
