#!/usr/bin/env python
"""Issue 12, item 6: the experiments nobody had run, and the issue's crafted files at full size.

    python stress/experiments.py [--only NAME ...] [--json out.json] [--mem-mb 4096] [--baseline-src DIR]

Each crafted file (``stress/hostile.py``, issue sizes) is run in a child process capped at
``--mem-mb`` (``stress/isolate.py``): time, peak memory (VmHWM) and verdict. ``--baseline-src``
runs the same files with another source tree (e.g. ``/work/main/src`` before the fixes) in the same
run, for before/after figures. Two experiments are about processes, not files:

  same_path_saves   two processes saving different arrays to one path at once, 50 saves each;
                    afterwards (and after every save) the file must be one of the two, complete
  read_during_close readers opening and reading a file while an r+ writer writes regions and
                    runs close() (which swaps in a rebuilt file): errors by type, crashes
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

if not __package__:  # run as a script (python stress/x.py): the repository root holds the stress package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress import hostile  # noqa: E402
from stress._common import subprocess_env  # noqa: E402
from stress.isolate import run_isolated  # noqa: E402

# (builder, kwargs, ops, expect): the issue's sizes
FILE_CASES = [
    ("meta_boxes", {"n": 8_000_000}, ("open", "info", "napari"), "limit"),
    ("meta_classes", {"n": 1_000_000}, ("open", "info"), "limit"),
    ("meta_extra_keys", {"n": 5_000_000}, ("open", "info"), "limit"),
    ("meta_levels", {"n": 100_000}, ("open", "info", "napari"), "limit"),
    ("legacy_refs", {"n": 30_000_000}, ("open", "info"), "unsafe"),
    ("legacy_build", {}, ("open", "info"), "unsafe"),
    ("legacy_huge_int", {"where": "spacing"}, ("open", "info"), "corrupt"),
    ("legacy_huge_int", {"where": "source"}, ("open", "info"), "corrupt"),
    ("vlmeta_entry", {"key": "mla.meta", "nbytes": 2**30}, ("open", "info", "napari"), "limit"),
    ("vlmeta_entry", {"key": "mla.pad", "nbytes": 2**30}, ("open", "info", "napari"), "limit"),
    ("huge_declared_array", {}, ("open", "to_numpy", "asarray", "getitem", "napari"), {"open": "ok", "*": "limit"}),
    ("many_chunks", {"n": 1_000_000}, ("open", "verify", "to_numpy", "info", "napari"), "ok"),
    ("nifti_gzip_bomb", {"nbytes": 4 << 30}, ("convert",), "ok"),
    ("nifti_extension_bomb", {"nbytes": 1 << 30}, ("convert",), "limit"),
    ("nifti_declared_huge", {}, ("convert",), "limit"),
    ("tiff_pages", {"n": 20_000}, ("convert",), "ok"),
    ("tiff_declared_huge", {}, ("convert",), "limit"),
    ("ome_outside_ref", {"how": "dotdot"}, ("convert",), "conversion"),
    ("dicom_mismatched", {}, ("convert",), "conversion"),
    ("dicom_symlink_outside", {}, ("convert",), "conversion"),
    ("dicom_fifo_and_device", {}, ("convert",), "ok"),
    # 512 MiB of pixels from ~0.5 MB: converts under the 4 GiB cap (8 frames, 1 GiB, ran out of address
    # space inside pydicom: a LimitExceededError since then, see docs/reliability.md section 7)
    ("dicom_deflate_bomb", {"rows": 8192, "frames": 4}, ("convert",), "ok"),
    ("dicom_deflate_bomb", {"rows": 8192, "frames": 8}, ("convert",), {"convert": "any"}),
    ("dicom_declared_huge", {}, ("convert",), "limit"),
    ("dicom_samples_per_pixel", {}, ("convert",), "corrupt"),
    ("metaimage_outside_ref", {"how": "dotdot"}, ("convert",), "conversion"),
    ("metaimage_outside_ref", {"how": "list"}, ("convert",), "conversion"),
    ("nifti_pair", {"how": "symlink"}, ("convert",), "conversion"),
]


def _outcomes(res: dict) -> dict:
    return {k: (v["type"] if not v["ok"] else "ok") for k, v in (res["ops"] or {}).items()}


def run_files(args, work: Path) -> list[dict]:
    out = []
    for name, kw, ops, expect in FILE_CASES:
        if name == "many_chunks" and args.many_chunks:
            kw = {"n": args.many_chunks}
        label = f"{name}({', '.join(f'{k}={v}' for k, v in kw.items())})"
        if args.only and name not in args.only:
            continue
        d = work / label.replace("(", "_").replace(")", "").replace(", ", "_").replace("=", "")
        d.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        case = hostile.BUILDERS[name](d, **kw)
        build_s = round(time.perf_counter() - t, 1)
        size = sum(f.stat().st_size for f in Path(case.path).parent.rglob("*") if f.is_file()) \
            if os.path.isdir(case.path) else os.path.getsize(case.path)
        row = {"case": label, "file_bytes": size, "build_s": build_s, "ops": list(ops)}
        res = run_isolated(case.path, ops, expect, mem_mb=args.mem_mb, timeout=args.timeout)
        row.update(verdict=res["verdict"], why=res["why"], peak_mb=res["peak_mb"], seconds=res["seconds"],
                   outcome=_outcomes(res),
                   message={k: v.get("msg", "")[:300] for k, v in (res["ops"] or {}).items() if not v["ok"]})
        if args.baseline_src:
            env = {"PYTHONPATH": f"{args.baseline_src}:{Path(__file__).parent}"}
            base = run_isolated(case.path, ops, "any", env=env, mem_mb=args.mem_mb, timeout=args.timeout)
            row["baseline"] = {"verdict": base["verdict"], "why": base["why"][:300], "peak_mb": base["peak_mb"],
                               "seconds": base["seconds"],
                               "outcome": _outcomes(base)}
        print(json.dumps(row), flush=True)
        out.append(row)
        if name in ("vlmeta_entry", "many_chunks", "nifti_gzip_bomb", "tiff_pages"):
            for f in sorted(Path(case.path).parent.rglob("*"), reverse=True):
                if f.is_file():
                    f.unlink()
    return out


SAVER = r"""
import sys, numpy as np
from mlarray import MLArray
p, value, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
errors = []
for i in range(n):
    try:
        MLArray(np.full((32, 256, 256), value, np.uint8), meta={"writer_value": value}).save(p)
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
print(len(errors), errors[:3])
"""

CHECKER = r"""
import sys, time, collections, numpy as np
from mlarray import MLArray
p, seconds = sys.argv[1], float(sys.argv[2])
seen = collections.Counter(); end = time.time() + seconds
while time.time() < end:
    try:
        img = MLArray.open(p, verify=True)
        a = img[...]
        v = {int(a.min()), int(a.max())}
        seen["torn" if len(v) > 1 or img.meta.source.get("writer_value") != a.flat[0] else f"value {v.pop()}"] += 1
        img.close()
    except Exception as e:
        seen[f"{type(e).__name__}: {str(e)[-100:]}"] += 1
print(dict(seen))
"""


def same_path_saves(work: Path, saves: int = 50, check_seconds: float = 25) -> dict:
    p = work / "shared.mla"
    env = subprocess_env()
    t = time.perf_counter()
    checker = subprocess.Popen([sys.executable, "-c", CHECKER, str(p), str(check_seconds)], stdout=subprocess.PIPE,
                               text=True, env=env)
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(p), str(v), str(saves)], stdout=subprocess.PIPE,
                              text=True, env=env) for v in (1, 2)]
    writers = [pr.communicate()[0].strip() for pr in procs]
    reads = checker.communicate()[0].strip()
    from mlarray import MLArray

    img = MLArray.open(p, verify=True)
    final = {int(img[...].min()), int(img[...].max())}
    stray = sorted(f.name for f in work.iterdir() if ".partial" in f.name)
    res = {"experiment": "same_path_saves", "saves_per_process": saves, "writer_errors": writers,
           "reader_outcomes": reads, "final_values": sorted(final), "stray_files": stray,
           "seconds": round(time.perf_counter() - t, 1)}
    print(json.dumps(res), flush=True)
    return res


def read_during_close(seconds: int = 30, readers: int = 4) -> dict:
    script = Path(__file__).with_name("concurrency.py")
    r = subprocess.run([sys.executable, str(script), "--readers", str(readers), "--seconds", str(seconds)],
                       capture_output=True, text=True, env=subprocess_env(), timeout=seconds * 10)
    res = {"experiment": "read_during_close", "readers": readers, "seconds": seconds,
           "output": r.stdout[-3000:], "rc": r.returncode}
    print(json.dumps(res), flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--mem-mb", type=int, default=4096)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--baseline-src", default=None)
    ap.add_argument("--no-process-experiments", action="store_true")
    ap.add_argument("--many-chunks", type=int, default=0,
                    help="chunks of the many_chunks file (default 1,000,000; building it is quadratic in "
                         "python-blosc2's frame append: 40,000 chunks took 25 s)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="experiments-"))
    results = {"files": run_files(args, work)}
    if not args.no_process_experiments:
        results["same_path_saves"] = same_path_saves(work)
        results["read_during_close"] = read_during_close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    bad = [r for r in results["files"] if r["verdict"] != "ok"]
    print(f"{len(results['files'])} file cases, {len(bad)} not as expected")


if __name__ == "__main__":
    main()
