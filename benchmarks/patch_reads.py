"""Random patch reads from an .mla file versus an uncompressed .npy memmap.

Writes a CT-like phantom (``mlarray.samples``) of ``--size``³ int16 voxels as .npy, as .mla
through ``mlarray.MLArray`` (what users get: the file size includes the stored pyramid
levels; reads go through ``MLArray.__getitem__``), as plain blosc2 with ``mlarray.layout``
(the array alone, to separate layout from API costs), and optionally with the published
``mlarray==0.0.54`` run from a throwaway venv (``--published-python``). It then reads the
same seeded random 128³ patches from each, single-threaded, page cache warm, interleaving
the formats round by round and reporting the median rate over rounds. Rates are CPU time
of the reading thread by default (``--clock cpu``), which a loaded machine disturbs far
less than wall time (``--clock wall``); both are single-threaded reads.

Reference figures (published 0.0.54, its docs' machine type): 590 patches/s against
1088 for the .npy memmap, i.e. 0.54x npy. This project's target is 1.5x that: 0.81x npy.

    PYTHONPATH=src python benchmarks/patch_reads.py --size 512 --patches 300 \
        --published-python /tmp/pubvenv/bin/python
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import blosc2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlarray.layout import default_cparams, resolve_layout, to_blosc2_cparams  # noqa: E402
from mlarray.samples import ct_phantom_slab  # noqa: E402

NPY, MLA, LAYOUT, PUBLISHED = "npy (memmap, raw)", "mla (MLArray API)", "blosc2+layout only", "mlarray 0.0.54"
PUBLISHED_PATCHES_PER_S = 590.0
PUBLISHED_NPY_PATCHES_PER_S = 1088.0
TARGET_RATIO_VS_PUBLISHED = 1.5
TARGET_RATIO_VS_NPY = TARGET_RATIO_VS_PUBLISHED * PUBLISHED_PATCHES_PER_S / PUBLISHED_NPY_PATCHES_PER_S

# Runs inside the throwaway venv: its `mlarray` is the published package, not ours.
PUBLISHED_SCRIPT = """
import sys, numpy as np
from mlarray import MLArray
MLArray(np.ascontiguousarray(np.load(sys.argv[1], mmap_mode="r"))).save(sys.argv[2])
"""


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    shape = (args.size,) * 3
    patch = min(args.read, args.size)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        npy_path = _write_npy(tmp / "phantom.npy", shape, args.seed)
        files = {"npy (memmap, raw)": npy_path}
        volume = np.load(npy_path, mmap_mode="r")
        if _write_mla_api(volume, tmp / "api.mla", args.patch_size):
            files[MLA] = tmp / "api.mla"
        files[LAYOUT] = _write_blosc2_layout(volume, tmp / "layout.mla", args.patch_size)
        if args.published_python:
            files[PUBLISHED] = _write_published(args.published_python, npy_path, tmp / "published.mla")
        readers = {name: _reader(path, api=name == MLA) for name, path in files.items()}
        starts = np.random.default_rng(args.seed).integers(0, args.size - patch + 1, size=(args.patches, 3))
        rates = _measure(readers, starts, patch, args.rounds, args.clock)
        met = _print_table(shape, patch, files, readers, rates, args)
    return 0 if met or not args.check else 1


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512, help="edge of the cubic int16 phantom")
    p.add_argument("--patches", type=int, default=300, help="random patches per format")
    p.add_argument("--read", type=int, default=128, help="edge of the patches read")
    p.add_argument("--patch-size", type=int, default=192, help="training patch size given to the layout")
    p.add_argument("--rounds", type=int, default=10, help="interleaved rounds the patches are split into")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="cpu: CPU time of the reading thread (robust on a shared machine); wall: elapsed time")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--published-python", help="python of a venv with mlarray==0.0.54 installed")
    p.add_argument("--workdir", default=None, help="where temporary files go (default: system temp)")
    return p.parse_args(argv)


def _write_npy(path: Path, shape, seed: int) -> Path:
    """Stream the phantom slab by slab into an .npy so large sizes never sit in memory twice."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.int16, shape=shape)
    step = max(1, (8 * 2**20) // (shape[1] * shape[2]))
    for z0 in range(0, shape[0], step):
        z1 = min(z0 + step, shape[0])
        out[z0:z1] = ct_phantom_slab(shape, z0, z1, seed=seed)
    out.flush()
    del out
    return path


def _write_mla_api(volume: np.ndarray, path: Path, patch_size: int) -> bool:
    """Write with the MLArray API when it exists; False when it is not usable yet."""
    try:
        from mlarray import MLArray  # wired in by the MLArray API module
        MLArray(np.ascontiguousarray(volume), patch_size=patch_size).save(str(path))
        return True
    except (ImportError, TypeError, AttributeError, NotImplementedError) as exc:  # API not finished yet
        print(f"MLArray API unusable ({exc!r}); measuring the plain blosc2 layout only", file=sys.stderr)
        return False


def _write_blosc2_layout(volume: np.ndarray, path: Path, patch_size: int) -> Path:
    """Plain blosc2 with our layout and cparams: the array alone, no metadata or pyramid."""
    data = np.ascontiguousarray(volume)
    chunks, blocks, _ = resolve_layout(data.shape, data.dtype, None, patch_size)
    # Writer threads change only the write time, not the bytes; reads below use 1 thread.
    cparams = to_blosc2_cparams({**default_cparams(data.dtype), "nthreads": os.cpu_count() or 1})
    blosc2.asarray(data, chunks=chunks, blocks=blocks, cparams=cparams, urlpath=str(path), mode="w")
    return path


def _write_published(python: str, npy_path: Path, path: Path) -> Path:
    # -I: ignore PYTHONPATH and the cwd, or the venv would import this checkout's mlarray.
    subprocess.run([python, "-I", "-c", PUBLISHED_SCRIPT, str(npy_path), str(path)], check=True, cwd=path.parent)
    return path


def _reader(path: Path, api: bool = False):
    """(blosc2/numpy array, patch getter); .mla files are opened like the loaders do (mmap, 1 thread).

    ``api``: read through ``MLArray.open(...)[key]`` (its default single-threaded dparams).
    """
    if path.suffix == ".npy":
        arr = np.load(path, mmap_mode="r")
        return arr, lambda key: np.array(arr[key])  # a loader copies the patch out
    # .mla files keep the base frame behind a 16-byte header and the pyramid levels
    offset = 0
    if path.suffix == ".mla":
        from mlarray._file.container import base_offset

        offset = base_offset(str(path))
    arr = blosc2.open(str(path), mode="r", mmap_mode="r", offset=offset, dparams=blosc2.DParams(nthreads=1))
    if api:
        from mlarray import MLArray
        return arr, MLArray.open(str(path)).__getitem__
    return arr, arr.__getitem__


def _measure(readers: dict, starts: np.ndarray, patch: int, rounds: int, clock: str) -> dict[str, float]:
    """Median patches/s over rounds per reader; one untimed pass first so every file is in the page cache."""
    now = time.thread_time if clock == "cpu" else time.perf_counter
    keys = [tuple(slice(s, s + patch) for s in start) for start in starts]
    for _, get in readers.values():
        for key in keys:
            get(key)
    per_round: dict[str, list[float]] = {name: [] for name in readers}
    for part in np.array_split(np.arange(len(keys)), max(1, rounds)):
        for name, (_, get) in readers.items():
            t0 = now()
            for i in part:
                get(keys[i])
            per_round[name].append(len(part) / max(now() - t0, 1e-9))
    return {name: float(np.median(r)) for name, r in per_round.items()}


def _describe(arr) -> str:
    if isinstance(arr, np.ndarray):
        return "uncompressed"
    cp = arr.cparams
    filters = "+".join(f.name for f in cp.filters if f.name != "NOFILTER") or "none"
    split = {"ALWAYS_SPLIT": " split", "NEVER_SPLIT": " nosplit"}.get(cp.splitmode.name, "")
    return f"{cp.codec.name}{cp.clevel} {filters}{split} chunks {list(arr.chunks)} blocks {list(arr.blocks)}"


def _print_table(shape, patch, files, readers, rates, args) -> bool:
    """Print the table and the targets; True when every checked target is met."""
    raw = int(np.prod(shape)) * 2
    npy_rate = rates[NPY]
    print(f"phantom {shape} int16, raw {raw / 1e6:.1f} MB; {args.patches} random {patch}^3 patches, "
          f"1 thread, page cache warm, layout patch_size={args.patch_size}, "
          f"median of {args.rounds} interleaved rounds, {args.clock} clock")
    print(f"{'format':<22}{'file MB':>9}{'patches/s':>11}{'x npy':>7}{'x 0.0.54':>10}  layout")
    pub_rate = rates.get(PUBLISHED)
    for name, path in files.items():
        rate = rates[name]
        vs_pub = f"{rate / pub_rate:>10.2f}" if pub_rate else f"{'-':>10}"
        print(f"{name:<22}{os.path.getsize(path) / 1e6:>9.1f}{rate:>11.1f}{rate / npy_rate:>7.2f}{vs_pub}"
              f"  {_describe(readers[name][0])}")
    mla = MLA if MLA in rates else LAYOUT
    met = True
    if pub_rate:
        speed = rates[mla] / pub_rate
        size_mla, size_pub = os.path.getsize(files[mla]), os.path.getsize(files[PUBLISHED])
        ok_speed, ok_size = speed >= TARGET_RATIO_VS_PUBLISHED, size_mla <= size_pub
        met = ok_speed and ok_size
        print(f"{mla} / 0.0.54: speed {speed:.2f}x (target >= {TARGET_RATIO_VS_PUBLISHED}x: "
              f"{'MET' if ok_speed else 'MISSED'}), file {size_mla / 1e6:.1f} vs {size_pub / 1e6:.1f} MB "
              f"(target <=: {'MET' if ok_size else 'MISSED'})")
    else:
        vs_npy = rates[mla] / npy_rate
        met = vs_npy >= TARGET_RATIO_VS_NPY
        print(f"{mla} / npy: {vs_npy:.2f}x; reference 0.0.54 {PUBLISHED_PATCHES_PER_S:.0f} vs npy "
              f"{PUBLISHED_NPY_PATCHES_PER_S:.0f} patches/s = "
              f"{PUBLISHED_PATCHES_PER_S / PUBLISHED_NPY_PATCHES_PER_S:.2f}x"
              f" npy; target {TARGET_RATIO_VS_PUBLISHED}x that = {TARGET_RATIO_VS_NPY:.2f}x npy: "
              f"{'MET' if met else 'MISSED'} (pass --published-python to compare in the same run)")
    print(f"{mla} / npy: {rates[mla] / npy_rate:.2f}x")
    return met


if __name__ == "__main__":
    sys.exit(main())
