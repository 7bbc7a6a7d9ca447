#!/usr/bin/env python
"""Kill (SIGKILL) a process in the middle of writing an ``.mla`` file; check what survives.

    python stress/crash_save.py --trials 100 [--seed 0] [--size 48,384,384]

Three kinds of trial, in turn:
  save    MLArray(new).save(p) over an existing p           -> p must be old or new, complete
  meta    open(p, r+), change meta.extra, close()          -> p must open, metadata old or new
  region  open(p, r+), write regions, close()              -> p must open; every chunk old or new
The kill time is uniform over the measured duration of the operation (x1.2).
Also counts temp files left behind (hidden ``.name.*.partial.mla``) and visible strays.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if not __package__:  # run as a script (python stress/x.py): the repository root holds the stress package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress._common import subprocess_env  # noqa: E402

CHILD = r"""
import sys, json, numpy as np
from mlarray import MLArray
kind, path, shape = sys.argv[1], sys.argv[2], tuple(json.loads(sys.argv[3]))
print("go", flush=True)
if kind == "save":
    MLArray(np.full(shape, 2, np.int16), spacing=(1, 1, 1)).save(path)
elif kind == "meta":
    img = MLArray.open(path, mmap_mode="r+")
    img.meta.extra["edit"] = "new" * 200000
    img.close()
elif kind == "region":
    img = MLArray.open(path, mmap_mode="r+")
    for z in range(0, shape[0], 8):
        img[z:z + 8] = 2
    img.close()
print("done", flush=True)
"""


def _write_old(path: Path, shape) -> None:
    import numpy as np

    from mlarray import MLArray

    MLArray(np.full(shape, 1, np.int16), spacing=(1, 1, 1), meta={"v": "old"}).save(path)


def _check(path: Path, kind: str, shape) -> tuple[str, str]:
    """Runs in a subprocess (a torn file must not crash the runner)."""
    code = r"""
import sys, json, numpy as np
from mlarray import MLArray, MLArrayError
import mlarray
p, kind = sys.argv[1], sys.argv[2]
try:
    img = MLArray.open(p, verify=True)
    a = img[...]
    vals = sorted(set(np.unique(a).tolist()))
    # every pyramid level (frames in front of the base frame) must read and verify too
    nlevels = len(img.levels) - 1
    lvals = [sorted(set(np.unique(lv[...]).tolist())) for lv in img.levels[1:]]
    if any(not set(v) <= {1, 2} for v in lvals):
        errs_lv = ["level values " + str(lvals)]
    else:
        errs_lv = []
    extra = img.meta.extra.get("edit", "old")[:3]
    errs = errs_lv + [x.message for x in mlarray.validate(p) if x.severity == "error"]
    if kind == "save":
        ok = vals in ([1], [2])
    elif kind == "meta":
        ok = vals == [1] and extra in ("old", "new")
    else:
        # region: each chunk all-old or all-new (regions are chunk-aligned on axis 0 multiples of 8)
        chunks = img._store.chunks
        ok = set(vals) <= {1, 2}
    print(json.dumps({"ok": bool(ok) and not errs, "vals": vals, "extra": extra, "levels": nlevels,
                      "errs": errs[:2]}))
except MLArrayError as e:
    print(json.dumps({"ok": False, "error": str(e)[:300]}))
"""
    out = subprocess.run([sys.executable, "-c", code, str(path), kind], capture_output=True, text=True,
                         timeout=300, env=subprocess_env())
    if out.returncode != 0 or not out.stdout.strip():
        return "crash_on_read", out.stderr[-500:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return ("intact" if r["ok"] else "damaged"), json.dumps(r)


def _measure(kind, path, shape, env) -> float:
    """Seconds from "go" (imports done) to "done"."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(path), json.dumps(shape)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdout.readline()
    t = time.time()
    proc.stdout.readline()
    dt = time.time() - t
    proc.wait()
    return dt


def run(trials: int, seed: int = 0, shape=(48, 384, 384), workdir=None, verbose=True) -> dict:
    rng = random.Random(seed)
    tmp = Path(workdir or tempfile.mkdtemp(prefix="mla-crash-"))
    env = subprocess_env()
    kinds = ["save", "meta", "region"]
    durations = {}
    for k in kinds:
        p = tmp / f"measure-{k}.mla"
        _write_old(p, shape)
        durations[k] = _measure(k, p, shape, env)
        p.unlink()
    counts: Counter = Counter()
    per_kind = {k: Counter() for k in kinds}
    findings = []
    stray_hidden = stray_visible = 0
    for t in range(trials):
        kind = kinds[t % 3]
        d = tmp / f"trial{t}"
        d.mkdir()
        p = d / "image file.mla"
        _write_old(p, shape)
        proc = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(p), json.dumps(shape)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc.stdout.readline()  # "go": imports done
        time.sleep(rng.uniform(0, durations[kind] * 1.2))
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        status, detail = _check(p, kind, shape)
        names = [x.name for x in d.iterdir() if x.name != p.name]
        hidden = [n for n in names if n.startswith(".") and ".partial" in n]
        stray_hidden += len(hidden)
        stray_visible += len(names) - len(hidden)
        counts[status] += 1
        per_kind[kind][status] += 1
        per_kind[kind]["killed_mid_write" if not finished else "finished_before_kill"] += 1
        per_kind[kind]["with_levels"] += int('"levels": 0' not in detail)
        if status != "intact":
            findings.append({"trial": t, "kind": kind, "status": status, "detail": detail[:600]})
        if verbose:
            print(f"  trial {t} {kind:6s} -> {status} {'(finished)' if finished else ''}", flush=True)
    return {"trials": trials, "outcomes": dict(counts), "per_kind": {k: dict(v) for k, v in per_kind.items()},
            "durations_s": {k: round(v, 2) for k, v in durations.items()}, "hidden_partials_left": stray_hidden,
            "visible_strays_left": stray_visible, "findings": findings, "workdir": str(tmp)}


def print_summary(s: dict) -> None:
    print(f"crash_save: {s['trials']} trials; operation durations {s['durations_s']}")
    print("  outcomes:", json.dumps(s["outcomes"]))
    for k, v in s["per_kind"].items():
        print(f"  {k:6s} {json.dumps(v, sort_keys=True)}")
    print(f"  hidden .partial files left: {s['hidden_partials_left']}, visible strays: {s['visible_strays_left']}")
    for f in s["findings"][:20]:
        print("  FINDING", json.dumps(f)[:700])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="48,384,384", help="array shape of the file")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    s = run(a.trials, a.seed, tuple(int(x) for x in a.size.split(",")), a.workdir)
    print_summary(s)
    if a.json:
        Path(a.json).write_text(json.dumps(s, indent=1))
    return 0 if s["outcomes"].get("intact", 0) == s["trials"] and not s["visible_strays_left"] else 1


if __name__ == "__main__":
    sys.exit(main())
