"""Many saves in one process: does the 3,000th file take as long as the first?

A dask worker or a preprocessing script writes thousands of files in one long-lived process. With
python-blosc2 4.14, ``NDArray.__setitem__`` on a file records the file's path in a process-wide
index cache and checks every recorded path on each later write, so the time per write grows with
the number of files written before (see src/mlarray/_data/region_write.py). This script measures the
time per file for the first and the last block of saves, for ``MLArray.save`` and, as the baseline
in the same run, for the same array written with plain Blosc2 (``blosc2.empty`` + ``__setitem__``).

    python benchmarks/save_many.py [--files 3000] [--shape 16 32 32] [--dir /dev/shm/x]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np


def per_file_ms(write, n, block):
    """(ms per file over the first ``block`` files, ms per file over the last ``block``)."""
    times = []
    for i in range(n):
        t = time.perf_counter()
        write(i)
        times.append(time.perf_counter() - t)
    return 1000 * sum(times[:block]) / block, 1000 * sum(times[-block:]) / block


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--shape", type=int, nargs=3, default=[16, 32, 32])
    ap.add_argument("--block", type=int, default=300, help="files averaged at the start and at the end")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args(argv)

    import blosc2

    from mlarray import MLArray

    root = args.dir or tempfile.mkdtemp(prefix="mla-savemany-")
    os.makedirs(root, exist_ok=True)
    a = np.random.default_rng(0).integers(-1000, 1000, size=args.shape).astype(np.int16)
    img = MLArray(a, spacing=[1.0, 1.0, 1.0])

    def mla(i):
        img.save(os.path.join(root, f"m{i % 20}.mla"))

    def plain(i):
        # a fresh name per file, as temporary-then-rename writers (and converters) use
        path = os.path.join(root, f"b{i}.b2nd")
        store = blosc2.empty(a.shape, dtype=a.dtype, urlpath=path, mode="w")
        store[...] = a
        del store
        os.unlink(path)

    print(f"{args.files} saves of {args.shape} int16 in one process (blosc2 {blosc2.__version__})")
    for label, write in (("MLArray.save", mla), ("plain Blosc2 (baseline)", plain)):
        first, last = per_file_ms(write, args.files, args.block)
        print(f"  {label:26} first {args.block}: {first:6.2f} ms/file   last {args.block}: {last:6.2f} ms/file"
              f"   last/first: {last / first:5.2f}x")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
