"""Fuzz worker: reads one JSON case per stdin line, opens/reads the file, prints one JSON result line.

Run only by ``stress/fuzz.py`` (the parent restarts this process when C code crashes it).
Memory is capped with RLIMIT_AS so that a header that makes the reader allocate GBs shows up
as a failure instead of swapping the machine.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback


def _limit_memory():
    cap = int(os.environ.get("MLA_FUZZ_MEM_MB", "3072")) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _run_case(case: dict) -> dict:
    import numpy as np
    from _common import digest, meta_digest

    import mlarray
    from mlarray import MLArray, MLArrayError

    path = case["path"]
    out = {"id": case["id"], "ops": {}}

    def op(name, fn):
        try:
            out["ops"][name] = {"ok": True, "value": fn()}
        except MLArrayError as exc:
            out["ops"][name] = {"ok": False, "mla": True, "type": type(exc).__name__, "msg": str(exc)[:400],
                                "names_file": os.path.basename(path) in str(exc)}
        except BaseException as exc:  # noqa: BLE001 - recorded and reported as a finding
            tb = traceback.format_exc(limit=6)
            out["ops"][name] = {"ok": False, "mla": False, "type": type(exc).__name__, "msg": str(exc)[:400],
                                "tb": tb[-1500:]}

    def read_open():
        img = MLArray.open(path, mmap_mode="r")
        try:
            res = {"meta": meta_digest(img.meta.to_mapping())}
            if img.meta.has_array:
                # a lazily opened array is read whole only when that is affordable; otherwise a
                # corner patch (reading 4 TB is the caller's choice, not the library's)
                nbytes = int(np.prod(img.shape, dtype=np.float64)) * img.dtype.itemsize
                key = Ellipsis if nbytes <= 2**28 else tuple(slice(0, 64) for _ in img.shape)
                res["data"] = digest(img[key])
                res["levels"] = [digest(lv[...]) for lv in img.levels[1:]]
            return res
        finally:
            img.close()

    def read_load():
        img = MLArray.load(path)
        res = {"meta": meta_digest(img.meta.to_mapping())}
        if img.meta.has_array:
            res["data"] = digest(img.to_numpy())
        return res

    def run_validate():
        return [p.severity + ":" + p.field for p in mlarray.validate(path) if p.severity == "error"]

    op("open", read_open)
    op("load", read_load)
    op("validate", run_validate)
    return out


def main() -> None:
    _limit_memory()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import blosc2  # noqa: F401

    import mlarray  # noqa: F401  (import once, before the first case)

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        print(json.dumps(_run_case(case)), flush=True)


if __name__ == "__main__":
    main()
