"""Reader process for ``loader_reads.py``: times patch reads the way one DataLoader worker does them.

Runs in this project's environment (``.mla`` through ``mlarray``, nnU-Net's ``.b2nd`` through
``blosc2.open``, ``.npy`` memmaps) or, started with ``-I`` from a throwaway venv, with the published
``mlarray`` package. One JSON command per stdin line, one JSON answer per stdout line:

    {"fmt": "mla" | "b2nd" | "npy", "files": [...], "reads": [[file_index, [[start, stop], ...]], ...],
     "pattern": "reopen" | "open" | "openclose"}
    -> {"cpu": seconds of this thread's CPU time, "wall": seconds}

``reopen``: open the file, read one patch, let go (a training loader picking a random case);
``open``: every file opened once before the clock starts, then only the reads;
``openclose``: the opens and closes of ``reopen`` without the reads (its open cost).
Everything is single-threaded (Blosc2 ``nthreads=1``, as loaders run one per worker process).
"""

import json
import sys
import time

import blosc2
import numpy as np

blosc2.set_nthreads(1)
_DPARAMS = {"nthreads": 1}


def _opener(fmt):
    if fmt == "mla":
        from mlarray import MLArray

        def open_mla(path):
            return MLArray.open(path, mmap_mode="r")

        return open_mla, lambda a: a.close()
    if fmt == "b2nd":  # as nnU-Net v2's nnUNetDatasetBlosc2.load_case opens its cases (2.6 to 2.8.1)
        return (lambda path: blosc2.open(urlpath=path, mode="r", dparams=_DPARAMS, mmap_mode="r")), None
    if fmt == "npy":
        return (lambda path: np.load(path, mmap_mode="r")), None
    raise ValueError(f"unknown format {fmt!r}")


def _read(fmt, arr, key):
    out = arr[key]
    return np.array(out) if fmt == "npy" else out  # a loader copies the patch out of the memmap


def run(cmd: dict) -> dict:
    fmt, files = cmd["fmt"], cmd["files"]
    open_, close = _opener(fmt)
    reads = [(i, tuple(slice(a, b) for a, b in key)) for i, key in cmd["reads"]]
    t_cpu, t_wall = time.thread_time(), time.perf_counter()
    if cmd["pattern"] in ("reopen", "openclose"):
        read = cmd["pattern"] == "reopen"
        for i, key in reads:
            arr = open_(files[i])
            if read:
                _read(fmt, arr, key)
            if close:
                close(arr)
            del arr
    else:
        handles = [open_(f) for f in files]
        t_cpu, t_wall = time.thread_time(), time.perf_counter()
        for i, key in reads:
            _read(fmt, handles[i], key)
    return {"cpu": time.thread_time() - t_cpu, "wall": time.perf_counter() - t_wall}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = run(json.loads(line))
        except Exception as exc:  # report, keep serving: the driver decides
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
