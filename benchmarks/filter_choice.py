"""Which Blosc2 filter pipeline pays per data kind: size and single-thread read speed of each candidate.

``MLArray.save`` picks the filter pipeline per array by trial-compressing its central chunk with each
candidate (``mlarray.layout.codec_candidates``). This script shows what each candidate costs and
gives on whole cases of ``benchmarks/corpus.py``, with the block and chunk shapes of both profiles:
the file size, the size of the trial slab (so the trial's ranking can be checked against the whole
file's), patches/s reading 128^3, 1x192^2 and 8x64^2 patches from an open array (the decode + copy
part of a loader read, CPU time of one thread, candidates interleaved round-robin, medians), and
the trial's pick and its cost. Pipelines the trial does not offer are measured for the record.

    PYTHONPATH=src python benchmarks/filter_choice.py --entries ct_noise20 ct_zscored_f32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import blosc2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from corpus import ENTRY_NAMES, build_corpus, patch_shapes  # noqa: E402

from mlarray.layout import choose_cparams, codec_candidates, resolve_layout, to_blosc2_cparams  # noqa: E402
from mlarray.meta import spatial_axes_of  # noqa: E402

EXTRA = {  # pipelines the trial does not offer, measured for the record
    "default": [{"codec": "LZ4HC", "clevel": 6, "filters": ["SHUFFLE"], "splitmode": "NEVER_SPLIT"},
                {"codec": "LZ4HC", "clevel": 6, "filters": ["SHUFFLE", "BYTEDELTA"], "splitmode": "ALWAYS_SPLIT"}],
    "training": [],
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", nargs="*", choices=ENTRY_NAMES, default=["ct_noise20", "ct_zscored_f32"])
    p.add_argument("--cases", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    blosc2.set_nthreads(1)
    rng = np.random.default_rng(0)
    for e in build_corpus(args.entries, cases=args.cases):
        arr = e.cases[0]
        axes = spatial_axes_of(e.axis_labels, arr.ndim)
        print(f"\n{e.name} {arr.shape} {arr.dtype}")
        print("| profile | pipeline | blocks | MB | trial slab kB | 128^3 | 1x192^2 | 8x64^2 |")
        print("|---|---|---|---|---|---|---|---|")
        for profile in ("default", "training"):
            chunks, blocks, _ = resolve_layout(arr.shape, arr.dtype, axes, profile=profile)
            cands = codec_candidates(profile, arr.dtype, chunks, blocks, axes)
            cands += [(c, blocks) for c in EXTRA[profile] if arr.dtype.itemsize > 1]
            _measure(e, arr, profile, chunks, cands, args, rng)
            slab = np.ascontiguousarray(_central(arr, chunks))
            t = time.perf_counter()
            desc, _ = choose_cparams(profile, arr.dtype, slab, chunks, blocks, axes)
            print(f"| {profile} | trial picks {'+'.join(desc['filters'])}: {1e3 * (time.perf_counter() - t):.0f} ms "
                  f"for {len(cands) - len(EXTRA[profile]) * (arr.dtype.itemsize > 1)} candidates on a "
                  f"{slab.nbytes / 2**10:.0f} KiB slab | | | | | | |")
    return 0


def _central(arr, chunks):
    return arr[tuple(slice((n - min(c, n)) // 2, (n - min(c, n)) // 2 + min(c, n)) for n, c in zip(arr.shape, chunks))]


def _measure(e, arr, profile, chunks, cands, args, rng) -> None:
    stores, slabs = [], []
    slab = np.ascontiguousarray(_central(arr, chunks))
    for desc, blocks in cands:
        cp = to_blosc2_cparams({**desc, "nthreads": 1})
        stores.append(blosc2.asarray(arr, chunks=chunks, blocks=blocks, cparams=cp))
        trial_blocks = tuple(min(b, n) for b, n in zip(blocks, slab.shape))
        slabs.append(blosc2.asarray(slab, chunks=slab.shape, blocks=trial_blocks, cparams=cp).schunk.cbytes)
    rates = {i: {k: [] for k in patch_shapes(e)} for i in range(len(stores))}
    for r in range(args.rounds):
        for label, patch in patch_shapes(e).items():
            n = 6 if label.startswith("3D") else 60
            keys = [_window(arr.shape, axes_patch(e, patch), rng) for _ in range(n)]
            order = list(range(len(stores)))
            for i in order[r % len(order):] + order[:r % len(order)]:
                t = time.thread_time()
                for k in keys:
                    stores[i][k]
                rates[i][label].append(n / max(time.thread_time() - t, 1e-9))
    for i, (desc, blocks) in enumerate(cands):
        name = f"{desc['codec']} {desc['clevel']} {'+'.join(desc['filters'])} {desc['splitmode']}"
        cells = " | ".join(f"{np.median(v):.0f}" for v in rates[i].values())
        print(f"| {profile} | {name} | {'x'.join(map(str, blocks))} | {stores[i].schunk.cbytes / 1e6:.2f} | "
              f"{slabs[i] / 1e3:.0f} | {cells} |", flush=True)


def axes_patch(e, patch):
    it = iter(patch)
    return [n if a in e.channel_axes else next(it) for a, n in enumerate(e.shape)]


def _window(shape, patch, rng):
    starts = [int(rng.integers(0, n - p + 1)) for n, p in zip(shape, patch)]
    return tuple(slice(s, s + p) for s, p in zip(starts, patch))


if __name__ == "__main__":
    sys.exit(main())
