"""Batch conversion scaling: 200 small NIfTI files -> .mla with 1 vs 2 workers.

Times the command itself, ``mlarray convert DIR OUT --jobs N``, end to end in a fresh process per
run (Python start-up and imports included, as a user's ``time`` would show). With ``--cluster`` it
also runs ``mlarray.cli.run_batch(..., scheduler=ADDRESS)``, the code path of ``--scheduler``, on a
2-worker ``dask.distributed`` LocalCluster started beforehand (its start-up is not counted).
Outputs are removed between runs; inputs are read once beforehand so every run finds them in the
page cache.

    python benchmarks/convert_scaling.py [--files 200] [--shape 48 96 96] [--cluster]

Two baselines: ``--jobs 1`` as users run it (Blosc2's default threads, one per core), and the
same command on one core, configured like each pool worker (Blosc2 single-threaded everywhere).
The second is the like-for-like reference for process scaling; both speed-ups are printed.

It also measures the machine's ceiling for this workload: two independent processes, each with its
modules already imported, converting half of the files at the same moment (no pool, no scheduler).
No executor can beat it; the gap between it and ``--jobs 2`` is the pool's own cost (mostly each
fresh worker importing numpy, Blosc2 and nibabel before its first file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_inputs(folder, n, shape):
    import nibabel as nib

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    body = ((z - shape[0] / 2) / (0.45 * shape[0])) ** 2 + ((y - shape[1] / 2) / (0.4 * shape[1])) ** 2 \
        + ((x - shape[2] / 2) / (0.45 * shape[2])) ** 2 < 1
    base = np.where(body, 40, -1000).astype(np.int16)
    paths = []
    for i in range(n):
        p = os.path.join(folder, f"case{i:03d}.nii.gz")
        if not os.path.exists(p):
            img = base + rng.normal(0, 10, size=shape).astype(np.int16)
            nib.save(nib.Nifti1Image(img, np.diag([0.8, 0.8, 2.5, 1.0])), p)
        paths.append(p)
    return paths


def run(paths, out, **kw):
    from mlarray.cli import run_batch

    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    pairs = [(p, os.path.join(out, os.path.basename(p)[:-7] + ".mla")) for p in paths]
    t = time.perf_counter()
    res = run_batch(pairs, quiet=True, **kw)
    dt = time.perf_counter() - t
    failed = [r for r in res if r[2]]
    if failed:
        raise SystemExit(f"{len(failed)} conversions failed, e.g. {failed[0]}")
    return dt


def _env(**extra):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), **extra)


def run_cli(folder, out, jobs, **env):
    """Wall seconds of ``mlarray convert FOLDER OUT --jobs N`` in a fresh process, as a user runs it
    (Python start-up and imports included; every row starts from the same clean state)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "mlarray.cli", "convert", folder, out + os.sep, "--jobs", str(jobs), "--quiet"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(**env), capture_output=True, text=True)
    dt = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return dt


def startup(repeat):
    """Wall seconds for a fresh process to import what a conversion worker needs."""
    code = "import mlarray.cli, mlarray.convert._bridge, mlarray._data.writer, blosc2, nibabel"
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=_env(), check=True)
        best = min(best, time.perf_counter() - t)
    return best


HALF_WORKER = """
import os, sys, time
import blosc2
blosc2.set_nthreads(1)
from mlarray.cli import _convert_one
paths, out = sys.argv[1:-1], sys.argv[-1]
_convert_one(paths[0], os.path.join(out, "warm.mla"), "default", None, None, True)  # imports + first-call costs
print("ready", flush=True)
sys.stdin.readline()
t = time.perf_counter()
for p in paths:
    _convert_one(p, os.path.join(out, os.path.basename(p)[:-7] + ".mla"), "default", None, None, True)
print(time.perf_counter() - t, flush=True)
"""


def ceiling(paths, out, workers=2):
    """Seconds for ``workers`` independent warm processes converting an equal share each at once."""
    env = _env()
    procs = []
    for w in range(workers):
        folder = os.path.join(out, f"half{w}")
        os.makedirs(folder, exist_ok=True)
        procs.append(subprocess.Popen([sys.executable, "-c", HALF_WORKER, *paths[w::workers], folder],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            raise SystemExit("ceiling worker failed to start")
    for p in procs:  # release them together
        p.stdin.write("go\n")
        p.stdin.flush()
    times = [float(p.communicate()[0].strip()) for p in procs]
    return max(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--shape", type=int, nargs=3, default=[48, 96, 96])
    ap.add_argument("--repeat", type=int, default=2, help="runs per setting; the best is reported")
    ap.add_argument("--cluster", action="store_true", help="also run on a 2-worker dask LocalCluster")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args(argv)

    root = args.dir or tempfile.mkdtemp(prefix="mla-scaling-")
    paths = make_inputs(os.path.join(root, "nifti"), args.files, tuple(args.shape))
    for p in paths:  # warm the page cache
        with open(p, "rb") as fh:
            fh.read()
    size = sum(os.path.getsize(p) for p in paths)
    print(f"{len(paths)} NIfTI files of {args.shape} int16 ({size / 2**20:.1f} MB .nii.gz) on {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()[0]:.2f} (other processes compete for the cores)")
    out = os.path.join(root, "out")
    times = {}
    folder = os.path.join(root, "nifti")
    for label, jobs, env in (("mlarray convert --jobs 1", 1, {}),
                             ("--jobs 1 on one core", 1, {"BLOSC_NTHREADS": "1"}),
                             ("mlarray convert --jobs 2", 2, {})):
        # --jobs 1 converts in the command's own process with Blosc2's default threads (one per
        # core). "On one core" runs it the way each pool worker runs
        # (mlarray.parallel.one_core_per_worker): Blosc2 single-threaded everywhere, which
        # BLOSC_NTHREADS also imposes on the contexts C-Blosc2 makes for every chunk it writes. It
        # is the like-for-like baseline for process scaling.
        times[label] = min(run_cli(folder, out, jobs, **env) for _ in range(args.repeat))
        print(f"  {label:34} {times[label]:7.2f} s  {len(paths) / times[label]:6.1f} files/s")
    print(f"  {'(of which start-up, per process)':34} {startup(args.repeat):7.2f} s  "
          "Python plus the imports a worker needs, paid before the first file")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    label = "ceiling: 2 independent processes"
    times[label] = min(ceiling(paths, out) for _ in range(args.repeat))
    print(f"  {label:34} {times[label]:7.2f} s  {len(paths) / times[label]:6.1f} files/s  "
          "(warm, no pool: the best any executor can do here)")
    if args.cluster:
        import warnings

        from distributed import LocalCluster

        from mlarray.parallel import WorkerSetupWarning

        # dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's mmap
        # threshold at 128 KiB: every array of a conversion is then mmapped, page-faulted and unmapped
        # anew (1.75x the CPU per file here). The second row exports glibc settings that keep such
        # buffers on the heap; a variable set before the nanny starts wins over dask's default
        # (docs/cluster.md). The nanny also writes its default into this process's os.environ, so
        # the environment is restored after each cluster.
        tuned = {"MALLOC_TRIM_THRESHOLD_": str(128 * 2**20), "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)}
        for label, env in (("--scheduler LocalCluster (2 procs)", {}), ("  same, workers' malloc tuned", tuned)):
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                with warnings.catch_warnings(), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                             dashboard_address=None) as cluster:
                    warnings.simplefilter("ignore", WorkerSetupWarning)  # the first row is meant to be untuned
                    times[label] = min(run(paths, out, scheduler=cluster.scheduler_address) for _ in range(args.repeat))
            finally:
                os.environ.clear()
                os.environ.update(saved)
            print(f"  {label:34} {times[label]:7.2f} s  {len(paths) / times[label]:6.1f} files/s")
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    for base in ("mlarray convert --jobs 1", "--jobs 1 on one core"):
        for label, t in times.items():
            if label.startswith(("mlarray convert --jobs 2", "--scheduler", "  same", "ceiling")):
                print(f"  speed-up {label} over {base}: {times[base] / t:.2f}x")
    return times


if __name__ == "__main__":
    main()
