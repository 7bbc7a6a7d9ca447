"""Training-loader reads on a corpus of data kinds: open + read one patch + close, per format.

A training loader (nnU-Net's, MONAI's, ``mlarray.torch``) picks a random case, opens its file,
reads one patch and lets go, thousands of times per epoch, one thread per worker process. This
benchmark does exactly that on every entry of ``benchmarks/corpus.py`` for each format:

* ``mla``        this checkout's ``MLArray.save`` defaults (pyramid when large), read by ``MLArray.open``;
* ``mla train``  ``MLArray.save(profile="training")`` (no pyramid, size-first codec);
* ``0.0.54``     the published ``mlarray`` package, written *and read* by a throwaway venv's python;
* ``nnU-Net 2.8`` nnU-Net v2's Blosc2 case store written by the installed nnunetv2's own
  ``nnUNetDatasetBlosc2.save_case`` (LZ4HC 5, ``comp_blosc2_params`` layout for a 128^3 / 512^2
  patch, filter by trial; ``benchmarks/nnunet_store.py``), read as its ``load_case`` opens cases;
* ``nnU-Net 2.6 re-derived`` (``--nnunet26``) the older store rebuilt from 2.5/2.6's facts (ZSTD 8,
  its L1/L3 layout), no longer what nnU-Net writes;
* ``npy``        an uncompressed ``.npy`` memory map (the physical floor: a copy from page cache).

Each reader runs in its own process (``_loader_worker.py``) and reports the CPU time of its reading
thread (``--clock cpu``, robust on a shared machine) or wall time. Formats alternate within every
round (round-robin, a different one first each round, so a load spike hits all alike), rounds
repeat, the table gives medians. ``read-on-open`` rows time the same reads on files opened
beforehand (the pure read cost); ``--phases`` adds them for every patch shape together with
open + close alone, splitting each figure into its open and its decode/copy part. Page cache warm,
files written before the first round. Save times (including the codec trial) are reported per format.

    PYTHONPATH=src python benchmarks/loader_reads.py --published-python /tmp/upstream/bin/python
    # issue 29's run: 6 CT-like cases per dtype
    PYTHONPATH=src python benchmarks/loader_reads.py --entries ct_noise20 ct_zscored_f32 --cases 6 --phases \
        --published-python /tmp/pub054/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from corpus import ENTRY_NAMES, build_corpus, patch_shapes  # noqa: E402
from nnunet_store import nnunet_version, write_nnunet28_case, write_nnunet_case  # noqa: E402

MLA, TRAIN, PUB, NNU, NNU26, NPY = "mla", "mla train", "0.0.54", "nnU-Net 2.8", "nnU-Net 2.6 re-derived", "npy"
FORMATS = (MLA, TRAIN, PUB, NNU, NNU26, NPY)
TARGET_SPEED = 1.2  # x the faster of the published package and nnU-Net 2.8's store
TARGET_DEFAULT_SIZE = 1.10  # default .mla <= this x nnU-Net 2.8's store + the .mla's own pyramid
TARGET_OPEN_VS_NPY = 0.8  # read-on-open, 128^3 patches, x an .npy memmap
READS = {"3D": 16, "2D": 80, "small": 160}  # reads per format per round, by patch class

PUBLISHED_WRITE = """
import sys, numpy as np
from mlarray import MLArray
for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):
    MLArray(np.ascontiguousarray(np.load(src))).save(dst)
"""


def main(argv=None) -> int:
    args = _parse(argv)
    entries = build_corpus(args.entries or None, cases=args.cases, seed=args.seed)
    print(f"load before: {_uptime()}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        files, save_s, pyramid_bytes = _write_all(entries, Path(tmp), args)
        workers = _start_workers(args)
        try:
            time.sleep(2.1)  # ours remembers verified opens only of files older than 2 s (_open_cache)
            results = _measure_all(entries, files, workers, args)
        finally:
            for w in workers.values():
                w.stdin.close()
                w.wait()
        sizes = {e.name: {fmt: sum(os.path.getsize(p) for p in paths) for fmt, paths in files[e.name].items()}
                 for e in entries}
    ok = _report(entries, results, sizes, pyramid_bytes, save_s, args)
    print(f"\nnnunetv2 {nnunet_version()}; load after: {_uptime()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "sizes": sizes, "pyramid_bytes": pyramid_bytes,
                                               "save_s": save_s}, indent=1))
    return 0 if ok or not args.check else 1


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", nargs="*", choices=ENTRY_NAMES, help="corpus entries (default: all)")
    p.add_argument("--cases", type=int, default=2, help="cases per synthetic entry")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the reads per round")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--published-python", help="python of a venv with mlarray==0.0.54 (omitted: no 0.0.54 column)")
    p.add_argument("--no-open", action="store_true", help="skip the read-on-open rows")
    p.add_argument("--phases", action="store_true",
                   help="read-on-open and open + close alone for every patch shape (open vs decode)")
    p.add_argument("--nnunet26", action="store_true", help="also the re-derived nnU-Net 2.6 store")
    p.add_argument("--workdir", default=None)
    p.add_argument("--json", help="also write the raw figures here")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- writing


def _write_all(entries, tmp: Path, args) -> tuple[dict, dict, dict]:
    """Write every case in every format; (files, save seconds per entry and format, .mla pyramid bytes)."""
    from mlarray import MLArray

    files: dict = {}
    save_s: dict = {}
    pyramid_bytes: dict = {}
    pub_jobs = []
    for e in entries:
        d = tmp / e.name
        d.mkdir()
        out: dict = {f: [] for f in FORMATS}
        took: dict = {f: 0.0 for f in FORMATS}
        nn_patch = _nnunet_patch(e)

        def timed(fmt, path, write):
            t = time.perf_counter()
            write()
            took[fmt] += time.perf_counter() - t
            out[fmt].append(str(path))

        for i, arr in enumerate(e.cases):
            npy = d / f"case{i}.npy"
            timed(NPY, npy, lambda: np.save(npy, arr))
            # MLArray(arr) compresses in memory; the file write copies those chunks (or re-encodes)
            mla, train = d / f"case{i}.mla", d / f"case{i}.train.mla"
            timed(MLA, mla, lambda: MLArray(arr, axis_labels=e.axis_labels).save(str(mla)))
            timed(TRAIN, train, lambda: MLArray(arr, axis_labels=e.axis_labels).save(str(train), profile="training"))
            nnu = d / f"case{i}.b2nd"
            timed(NNU, nnu, lambda: write_nnunet28_case(str(nnu), arr, e.channel_axes, nn_patch))
            if args.nnunet26:
                old = d / f"case{i}.nn26.b2nd"
                timed(NNU26, old, lambda: write_nnunet_case(str(old), arr, e.channel_axes, nn_patch))
            if args.published_python:
                pub_jobs += [str(npy), str(d / f"case{i}.pub.mla")]
                out[PUB].append(str(d / f"case{i}.pub.mla"))
        pyramid_bytes[e.name] = sum(_pyramid_nbytes(f) for f in out[MLA])
        files[e.name] = {k: v for k, v in out.items() if v}
        save_s[e.name] = {k: v for k, v in took.items() if out[k] and k != PUB}
    if pub_jobs:  # -I: the venv must import its own mlarray, not this checkout's
        subprocess.run([args.published_python, "-I", "-c", PUBLISHED_WRITE, *pub_jobs], check=True)
    return files, save_s, pyramid_bytes


def _pyramid_nbytes(path: str) -> int:
    from mlarray import MLArray

    a = MLArray.open(path)
    try:
        return sum(int(lv.get("nbytes", 0)) for lv in a.meta.pyramid.levels)
    finally:
        a.close()


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _nnunet_patch(e) -> tuple:
    """The patch size nnU-Net's layout is derived from: a 128^3 3D or 512^2 2D configuration."""
    spatial = [e.shape[a] for a in e.spatial_axes]
    want = (128, 128, 128) if len(spatial) == 3 else (512, 512)
    return tuple(min(p, n) for p, n in zip(want, spatial))


# ----------------------------------------------------------------------------- reading


def _start_workers(args) -> dict:
    script = str(HERE / "_loader_worker.py")
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "src"), BLOSC_NTHREADS="1")
    ours = subprocess.Popen([sys.executable, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    workers = {"ours": ours}
    if args.published_python:
        workers["pub"] = subprocess.Popen([args.published_python, "-I", script], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True, env=dict(os.environ, BLOSC_NTHREADS="1"))
    return workers


def _ask(worker, cmd: dict) -> dict:
    worker.stdin.write(json.dumps(cmd) + "\n")
    worker.stdin.flush()
    answer = json.loads(worker.stdout.readline())
    if "error" in answer:
        raise RuntimeError(f"{cmd['fmt']} reader failed: {answer['error']}")
    return answer


def _reads_for(e, patch: tuple, n: int, rng) -> list:
    """n seeded (case, region) reads: a random window of ``patch`` over the spatial axes, channels whole."""
    out = []
    for _ in range(n):
        case = int(rng.integers(len(e.cases)))
        spatial = iter(patch)
        region = []
        for axis, size in enumerate(e.shape):
            if axis in e.channel_axes:
                region.append([0, size])
            else:
                p = next(spatial)
                s = int(rng.integers(0, size - p + 1))
                region.append([s, s + p])
        out.append([case, region])
    return out


def _nnunet_reads(e, reads: list) -> list:
    """The same windows in nnU-Net's (c, x, y, z) order: channels first, 2D images as (c, 1, y, x)."""
    out = []
    for case, region in reads:
        spatial = [r for a, r in enumerate(region) if a not in e.channel_axes]
        chan = [region[e.channel_axes[0]]] if e.channel_axes else [[0, 1]]
        if len(spatial) == 2:
            spatial = [[0, 1], *spatial]
        out.append([case, chan + spatial])
    return out


def _commands(e, files: dict, reads: list, pattern: str) -> dict:
    cmds = {}
    for fmt, paths in files.items():
        worker = "pub" if fmt == PUB else "ours"
        fmt_code = {MLA: "mla", TRAIN: "mla", PUB: "mla", NNU: "b2nd", NNU26: "b2nd", NPY: "npy"}[fmt]
        r = _nnunet_reads(e, reads) if fmt in (NNU, NNU26) else reads
        cmds[fmt] = (worker, {"fmt": fmt_code, "files": paths, "reads": r, "pattern": pattern})
    return cmds


def _measure_all(entries, files, workers, args) -> dict:
    results: dict = {}
    rng = np.random.default_rng(args.seed)
    for e in entries:
        fmts = {f: p for f, p in files[e.name].items()}
        for label, patch in patch_shapes(e).items():
            n = max(4, int(READS[label.split()[0]] * args.scale))
            reads = _reads_for(e, patch, n, rng)
            patterns = ["reopen"]
            if args.phases:
                patterns += ["open", "openclose"]
            elif not args.no_open and label.startswith(("3D", "2D 512")):
                patterns += ["open"]
            for pattern in patterns:
                cmds = _commands(e, fmts, reads, pattern)
                results[f"{e.name}|{label}|{pattern}"] = _rounds(cmds, workers, n, args)
            print(f"  measured {e.name} {label}  ({_uptime()})", file=sys.stderr, flush=True)
    return results


def _rounds(cmds: dict, workers: dict, n: int, args) -> dict:
    for worker, cmd in cmds.values():  # untimed: page cache, imports, first-open checks
        _ask(workers[worker], cmd)
    rates: dict = {f: [] for f in cmds}
    order = list(cmds)
    for r in range(args.rounds):
        for f in order[r % len(order):] + order[:r % len(order)]:  # round-robin, rotating who goes first
            worker, cmd = cmds[f]
            t = _ask(workers[worker], cmd)[args.clock]
            rates[f].append(n / max(t, 1e-9))
    return {f: float(np.median(v)) for f, v in rates.items()}


# ----------------------------------------------------------------------------- report


def _report(entries, results, sizes, pyramid_bytes, save_s, args) -> bool:
    ok = True
    fmts = [f for f in FORMATS if any(f in r for r in results.values())]
    print(f"\nopen + read one patch + close, patches/s (median of {args.rounds} round-robin rounds, one thread, "
          f"{args.clock} clock); x = ours / max(0.0.54, nnU-Net 2.8), target >= {TARGET_SPEED}")
    print("| entry | patch | " + " | ".join(fmts) + " | x mla | x train |")
    print("|---" * (len(fmts) + 4) + "|")
    for key, rates in results.items():
        name, label, pattern = key.split("|")
        if pattern != "reopen":
            continue
        peers = [rates[f] for f in (PUB, NNU) if f in rates]
        best = max(peers) if peers else None
        cells = [f"{rates[f]:.0f}" if f in rates else "-" for f in fmts]
        xs = []
        for f in (MLA, TRAIN):
            if f in rates and best:
                x = rates[f] / best
                if f == MLA:  # the speed target is the default profile's; the training one's is size
                    ok &= x >= TARGET_SPEED
                xs.append(f"{x:.2f}" + ("" if x >= TARGET_SPEED or f == TRAIN else " (short)"))
            else:
                xs.append("-")
        print(f"| {name} | {label} | " + " | ".join(cells) + " | " + " | ".join(xs) + " |")
    if any(k.endswith("|open") for k in results):
        print(f"\nread-on-open (files opened beforehand), patches/s; x npy target >= {TARGET_OPEN_VS_NPY} for 128^3")
        print("| entry | patch | " + " | ".join(fmts) + " | mla x npy |")
        print("|---" * (len(fmts) + 3) + "|")
        for key, rates in results.items():
            name, label, pattern = key.split("|")
            if pattern != "open":
                continue
            x = rates[MLA] / rates[NPY]
            if label.startswith("3D") and not args.phases:
                ok &= x >= TARGET_OPEN_VS_NPY
            cells = [f"{rates[f]:.0f}" if f in rates else "-" for f in fmts]
            print(f"| {name} | {label} | " + " | ".join(cells) + f" | {x:.2f} |")
    if args.phases:
        _report_phases(results, fmts)
    print("\nfile sizes, MB (all cases of the entry); targets: train <= nnU-Net 2.8, "
          f"mla <= {TARGET_DEFAULT_SIZE} x nnU-Net 2.8 + its pyramid")
    print("| entry | kind | " + " | ".join(fmts) + " | mla pyramid | (mla - pyramid) / nnU 2.8 | train / nnU 2.8 |")
    print("|---" * (len(fmts) + 5) + "|")
    for e in entries:
        s = sizes[e.name]
        pyr = pyramid_bytes[e.name]
        ratio = s[TRAIN] / s[NNU]
        ok &= ratio <= 1.0
        # the allowance: 10 % over nnU-Net's image bytes, plus the pyramid nnU-Net does not store
        dratio = (s[MLA] - pyr) / s[NNU]
        ok &= s[MLA] <= TARGET_DEFAULT_SIZE * s[NNU] + pyr
        print(f"| {e.name} | {e.kind} | " + " | ".join(f"{s[f] / 1e6:.2f}" if f in s else "-" for f in fmts)
              + f" | {pyr / 1e6:.2f} | {dratio:.2f} | {ratio:.2f} |")
    print("\nsave time, s (all cases; .mla from a numpy array, including the codec trial)")
    print("| entry | " + " | ".join(f for f in fmts if f != PUB) + " |")
    print("|---" * (len(fmts) + 1 - (PUB in fmts)) + "|")
    for e in entries:
        print(f"| {e.name} | " + " | ".join(f"{save_s[e.name][f]:.2f}" for f in fmts if f != PUB) + " |")
    print(f"\nall targets {'MET' if ok else 'NOT met'}")
    return ok


def _report_phases(results, fmts) -> None:
    """Per read: open + close alone vs the read from an open file, microseconds (1e6 / rate)."""
    print("\nphases, microseconds per read: open + close alone / read from an open file / open + read + close")
    print("| entry | patch | " + " | ".join(fmts) + " |")
    print("|---" * (len(fmts) + 2) + "|")
    for key, rates in results.items():
        name, label, pattern = key.split("|")
        if pattern != "reopen":
            continue
        oc, op = results.get(f"{name}|{label}|openclose"), results.get(f"{name}|{label}|open")
        if not oc or not op:
            continue
        cells = [f"{1e6 / oc[f]:.0f} / {1e6 / op[f]:.0f} / {1e6 / rates[f]:.0f}" for f in fmts]
        print(f"| {name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
