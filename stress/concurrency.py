#!/usr/bin/env python
"""Readers vs. an in-place writer on the same ``.mla`` file, in separate processes.

    python stress/concurrency.py --readers 8 --seconds 60

    python stress/concurrency.py --readers 8 --seconds 60 --writer save

One writer loops (``--writer rplus``): open(p, "r+"), change meta.extra (a counter and a payload of varying size),
write a random region (value = counter), close(). Each reader loops: open(p) (parses the JSON
metadata), read a random patch, close. Reported per reader: reads, and every exception by type
and message. Torn metadata would show up as CorruptFileError "not valid JSON"; a crash as a
reader exiting with a signal. ``--writer save`` instead loads, changes and atomically saves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

if not __package__:  # run as a script (python stress/x.py): the repository root holds the stress package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress._common import subprocess_env  # noqa: E402

READER = r"""
import sys, json, time, random, collections
import numpy as np
from mlarray import MLArray, MLArrayError
p, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
errors = collections.Counter(); reads = 0; meta_ok = 0
end = time.time() + seconds
while time.time() < end:
    try:
        img = MLArray.open(p)
        json.dumps(img.meta.to_mapping())  # metadata parsed and valid
        meta_ok += 1
        s = [rng.randrange(0, n - 16) for n in img.shape]
        a = img[tuple(slice(x, x + 16) for x in s)]
        img.close()
        reads += 1
    except Exception as e:
        errors[f"{type(e).__name__}: {str(e)[-120:]}"] += 1
print(json.dumps({"reads": reads, "meta_ok": meta_ok, "errors": dict(errors)}))
"""

WRITER = r"""
import sys, json, time, random
import numpy as np
from mlarray import MLArray
p, seconds, how = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rng = random.Random(0)
end = time.time() + seconds; n = 0
while time.time() < end:
    n += 1
    if how == "save":  # the safe pattern: rewrite and atomically replace
        img = MLArray.load(p)
        img.meta.extra["counter"] = n
        s = [rng.randrange(0, d - 16) for d in img.shape]
        img._data[tuple(slice(x, x + 16) for x in s)] = n % 100
        img.save(p)
        continue
    img = MLArray.open(p, mmap_mode="r+")
    img.meta.extra["counter"] = n
    img.meta.extra["payload"] = "x" * rng.choice([10, 1000, 100000])
    if n % 2 == 0:
        s = [rng.randrange(0, d - 16) for d in img.shape]
        img[tuple(slice(x, x + 16) for x in s)] = n % 100
    img.close()
print(json.dumps({"writes": n}))
"""


def run(readers: int = 8, seconds: float = 30, shape=(64, 256, 256), workdir=None, writer: str = "rplus") -> dict:
    import numpy as np

    from mlarray import MLArray

    tmp = Path(workdir or tempfile.mkdtemp(prefix="mla-conc-"))
    p = tmp / "shared.mla"
    MLArray(np.zeros(shape, np.uint8), spacing=(1, 1, 1)).save(p)
    env = subprocess_env()
    procs = [subprocess.Popen([sys.executable, "-c", READER, str(p), str(seconds), str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(readers)]
    w = subprocess.Popen([sys.executable, "-c", WRITER, str(p), str(seconds), writer], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    results, crashes = [], []
    for pr in procs + [w]:
        out, err = pr.communicate(timeout=seconds + 300)
        if pr.returncode != 0:
            crashes.append({"returncode": pr.returncode, "stderr": err[-800:]})
        else:
            results.append(json.loads(out.strip().splitlines()[-1]))
    errs: Counter = Counter()
    for r in results[:-1] if not crashes or w.returncode == 0 else results:
        errs.update(r.get("errors", {}))
    final_ok = True
    try:
        MLArray.open(p, verify=True)[...]
    except Exception as exc:  # noqa: BLE001
        final_ok = f"{type(exc).__name__}: {exc}"
    return {"readers": readers, "seconds": seconds, "writer": writer,
            "reads": sum(r.get("reads", 0) for r in results), "writes": results[-1].get("writes") if results else None,
            "errors": dict(errs), "crashes": crashes, "final_file_ok": final_ok}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--writer", choices=["rplus", "save"], default="rplus",
                    help="rplus: in-place r+ edits and region writes; save: load, change, atomic save")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    s = run(a.readers, a.seconds, writer=a.writer)
    print(json.dumps(s, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(s, indent=1))
    return 1 if s["crashes"] or s["final_file_ok"] is not True else 0


if __name__ == "__main__":
    sys.exit(main())
