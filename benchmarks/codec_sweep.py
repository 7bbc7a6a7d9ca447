"""Codec and block-size candidates on the corpus: file size against nnU-Net's store, and read cost.

For each corpus entry (one case) and each candidate (codec, filters, split mode, block/chunk bytes),
writes the array with ``mlarray.layout.derive_layout`` at those byte budgets and times seeded random
reads of the loader's patch shapes on the open array (single thread, the extension's slice call as
``MLArray`` makes it), reporting the median over rounds. This is how the writer's
per-kind defaults were chosen (``mlarray.layout``): from the corpus, not one phantom.

    PYTHONPATH=src python benchmarks/codec_sweep.py [--entries ct_noise20 ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import blosc2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from corpus import build_corpus, patch_shapes  # noqa: E402
from nnunet_store import as_nnunet_array, nnunet_layout  # noqa: E402

from mlarray import layout  # noqa: E402

# name: (codec, clevel, filters, splitmode, block bytes, chunk bytes)
CANDIDATES = {
    "lz4hc6 split 16K/256K": ("LZ4HC", 6, ["SHUFFLE"], "ALWAYS_SPLIT", 16, 256),
    "lz4 split 16K/256K": ("LZ4", 1, ["SHUFFLE"], "ALWAYS_SPLIT", 16, 256),
    "zstd1 split 16K/256K": ("ZSTD", 1, ["SHUFFLE"], "ALWAYS_SPLIT", 16, 256),
    "zstd1 split 64K/512K": ("ZSTD", 1, ["SHUFFLE"], "ALWAYS_SPLIT", 64, 512),
    "zstd3 split 64K/512K": ("ZSTD", 3, ["SHUFFLE"], "ALWAYS_SPLIT", 64, 512),
    "zstd1 shuf+bdelta 64K/512K": ("ZSTD", 1, ["SHUFFLE", "BYTEDELTA"], "ALWAYS_SPLIT", 64, 512),
    "zstd3 shuf+bdelta 64K/512K": ("ZSTD", 3, ["SHUFFLE", "BYTEDELTA"], "ALWAYS_SPLIT", 64, 512),
    "lz4hc6 split 64K/512K": ("LZ4HC", 6, ["SHUFFLE"], "ALWAYS_SPLIT", 64, 512),
    "lz4 bitshuffle 16K/256K": ("LZ4", 1, ["BITSHUFFLE"], "NEVER_SPLIT", 16, 256),
    "lz4hc6 bitshuffle 16K/256K": ("LZ4HC", 6, ["BITSHUFFLE"], "NEVER_SPLIT", 16, 256),
    "lz4hc6 bitshuffle 32K/512K": ("LZ4HC", 6, ["BITSHUFFLE"], "NEVER_SPLIT", 32, 512),
    "zstd1 bitshuffle 32K/512K": ("ZSTD", 1, ["BITSHUFFLE"], "NEVER_SPLIT", 32, 512),
    "zstd1 nosplit 32K/512K": ("ZSTD", 1, ["SHUFFLE"], "NEVER_SPLIT", 32, 512),
    "zstd3 nosplit 32K/512K": ("ZSTD", 3, ["SHUFFLE"], "NEVER_SPLIT", 32, 512),
    "zstd5 nosplit 32K/512K": ("ZSTD", 5, ["SHUFFLE"], "NEVER_SPLIT", 32, 512),
    "zstd7 nosplit 32K/512K": ("ZSTD", 7, ["SHUFFLE"], "NEVER_SPLIT", 32, 512),
    "zstd9 nosplit 32K/512K": ("ZSTD", 9, ["SHUFFLE"], "NEVER_SPLIT", 32, 512),
    "zstd9 nosplit 64K/1M": ("ZSTD", 9, ["SHUFFLE"], "NEVER_SPLIT", 64, 1024),
    "zstd9 nosplit 16K/256K": ("ZSTD", 9, ["SHUFFLE"], "NEVER_SPLIT", 16, 256),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", nargs="*")
    p.add_argument("--candidates", nargs="*", choices=list(CANDIDATES))
    p.add_argument("--reads", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    entries = build_corpus(args.entries or ["ct_noise5", "ct_noise60", "ct_zscored_f32", "labels_u8", "mni_t1_u8",
                                            "mni_t1_zscored_f32", "cr_radiograph_u16", "slide_rgb"], cases=1)
    names = args.candidates or list(CANDIDATES)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for e in entries:
            arr = e.cases[0]
            nn = _nnunet(arr, e, Path(tmp) / f"{e.name}.b2nd")
            stores = {"nnU-Net zstd8": nn}
            for name in names:
                stores[name] = _write(arr, e, CANDIDATES[name], Path(tmp) / f"{e.name}.{len(stores)}.b2nd")
            print(f"\n{e.name} {arr.shape} {arr.dtype}: MB, x nnU-Net size, then µs per read (median of rounds)")
            shapes = patch_shapes(e)
            print(f"{'candidate':<28}{'MB':>8}{'x nn':>7}" + "".join(f"{k:>15}" for k in shapes))
            for name, (st, path, is_nn) in stores.items():
                times = [_time_reads(st, e, patch, args, rng, is_nn) for patch in shapes.values()]
                size = path.stat().st_size
                print(f"{name:<28}{size / 1e6:>8.2f}{size / stores['nnU-Net zstd8'][1].stat().st_size:>7.2f}"
                      + "".join(f"{t:>15.0f}" for t in times), flush=True)


def _nnunet(arr, e, path):
    data = as_nnunet_array(arr, e.channel_axes)
    spatial = [e.shape[a] for a in e.spatial_axes]
    patch = tuple(min(p, n) for p, n in zip((128, 128, 128) if len(spatial) == 3 else (512, 512), spatial))
    blocks, chunks = nnunet_layout(data.shape, patch, data.dtype.itemsize)
    blosc2.asarray(data, urlpath=str(path), chunks=chunks, blocks=blocks, mode="w",
                   cparams={"codec": blosc2.Codec.ZSTD, "clevel": 8, "nthreads": 2})
    return blosc2.open(str(path), mode="r", mmap_mode="r", dparams={"nthreads": 1}), path, True


def _write(arr, e, cand, path):
    codec, clevel, filters, split, block_kib, chunk_kib = cand
    saved = layout.BLOCK_BYTES, layout.CHUNK_BYTES
    layout.BLOCK_BYTES, layout.CHUNK_BYTES = block_kib * 1024, chunk_kib * 1024
    try:
        chunks, blocks = layout.derive_layout(arr.shape, arr.dtype.itemsize, e.spatial_axes, 192)
    finally:
        layout.BLOCK_BYTES, layout.CHUNK_BYTES = saved
    filters = filters if arr.dtype.itemsize > 1 else [f for f in filters if f != "SHUFFLE"] or ["NOFILTER"]
    cp = layout.to_blosc2_cparams({"codec": codec, "clevel": clevel, "filters": filters, "splitmode": split,
                                   "nthreads": 2})
    blosc2.asarray(arr, urlpath=str(path), chunks=chunks, blocks=blocks, cparams=cp, mode="w")
    return blosc2.open(str(path), mode="r", mmap_mode="r", dparams={"nthreads": 1}), path, False


def _time_reads(store, e, patch, args, rng, is_nn) -> float:
    get = blosc2.blosc2_ext.NDArray.get_slice_numpy
    regions = []
    for _ in range(args.reads):
        start, stop, sp = [], [], iter(patch)
        for axis, size in enumerate(e.shape):
            if axis in e.channel_axes:
                start.append(0), stop.append(size)
            else:
                p = next(sp)
                s = int(rng.integers(0, size - p + 1))
                start.append(s), stop.append(s + p)
        if is_nn:  # channels first, 2D as (c, 1, y, x)
            sp_start = [s for a, s in enumerate(start) if a not in e.channel_axes]
            sp_stop = [s for a, s in enumerate(stop) if a not in e.channel_axes]
            c = [(start[e.channel_axes[0]], stop[e.channel_axes[0]])] if e.channel_axes else [(0, 1)]
            if len(sp_start) == 2:
                sp_start, sp_stop = [0, *sp_start], [1, *sp_stop]
            start, stop = [c[0][0], *sp_start], [c[0][1], *sp_stop]
        regions.append((tuple(start), tuple(stop)))
    per = []
    for _ in range(args.rounds):
        t = time.thread_time()
        for a, b in regions:
            get(store, np.empty(tuple(y - x for x, y in zip(a, b)), store.dtype), (a, b))
        per.append((time.thread_time() - t) / len(regions) * 1e6)
    return float(np.median(per))


if __name__ == "__main__":
    main()
