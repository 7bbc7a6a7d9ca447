"""Runs the operations of one hostile case in this (capped) process; prints one JSON result line.

Started by ``stress/isolate.py`` with an address-space cap and a timeout; the parent measures the
peak memory of this process and classifies the result.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import tempfile
import time
import traceback


def _first_frame(data):
    """What napari reads for its first frame: the coarsest level, one 2-D plane at the middle."""
    import numpy as np

    level = data[-1] if isinstance(data, list) else data
    shape = level.shape
    key = tuple(s // 2 for s in shape[:-2]) + (slice(None),) * min(2, len(shape))  # a 1-D array: all of it
    return np.asarray(level[key]).shape


def _op(name: str, case: dict):
    import numpy as np

    from mlarray import MLArray

    path = case["path"]
    if name == "open":
        img = MLArray.open(path)
        img.meta.to_mapping()
        return {"has_array": img.meta.has_array, "levels": len(img.levels) if img.meta.has_array else 0}
    if name == "verify":
        MLArray.open(path, verify=True).close()
        return True
    if name == "to_numpy":
        return list(MLArray.open(path).to_numpy().shape)
    if name == "asarray":
        return list(np.asarray(MLArray.open(path)).shape)
    if name == "getitem":
        return list(MLArray.open(path)[...].shape)
    if name == "napari":
        from napari_mlarray.hooks._reader import read_mla

        return [_first_frame(d) for d, _, kind in read_mla(path) if kind in ("image", "labels")]
    if name in ("info", "convert"):
        from mlarray.cli import main

        out, err = io.StringIO(), io.StringIO()
        args = ["info", path]
        if name == "convert":
            dst = os.path.join(tempfile.mkdtemp(prefix="hostile-out-"), "out.mla")
            args = ["convert", "-q", path, dst]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(args)
        res = {"rc": rc, "stdout": _ends(out.getvalue()), "stderr": _ends(err.getvalue())}
        if name == "convert" and os.path.exists(dst):
            res["disclosed"] = _disclosed(dst)
        return res
    raise ValueError(name)


def _ends(text: str, n: int = 3000) -> str:
    return text if len(text) <= 2 * n else text[:n] + "\n...\n" + text[-n:]


def _disclosed(dst: str) -> bool:
    """Whether the output holds bytes of a file outside the input folder (hostile.SECRET)."""
    from hostile import SECRET

    from mlarray import MLArray

    img = MLArray.open(dst)
    blob = json.dumps(img.meta.to_mapping()).encode()
    if img.meta.has_array:
        blob += img.to_numpy().tobytes()
    return SECRET[:16] in blob or b"OTHER^PATIENT" in blob


def main() -> None:
    case = json.loads(sys.argv[1])
    cap = case.get("mem_mb")
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap * 2**20, cap * 2**20))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mlarray  # noqa: F401 - imported before the clock starts

    results = {}
    for name in case["ops"]:
        t = time.perf_counter()
        try:
            value = _op(name, case)
            results[name] = {"ok": True, "value": value}
        except BaseException as exc:  # noqa: BLE001 - classified by the parent
            from mlarray import MLArrayError

            results[name] = {"ok": False, "type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                             "mla": isinstance(exc, MLArrayError), "msg": str(exc)[:600]}
            if not isinstance(exc, MLArrayError):
                results[name]["tb"] = traceback.format_exc(limit=8)[-2000:]
        results[name]["seconds"] = round(time.perf_counter() - t, 3)
    print(json.dumps({"ops": results, "peak_kb": _peak_kb(), "stand_ins_intact": _stand_ins_intact()}), flush=True)


def _stand_ins_intact() -> bool:
    """Whether the legacy reader's stand-ins are as the library defined them (a file must not change code)."""
    try:
        from mlarray._published import safe_pickle as _legacy
    except ImportError:  # source trees before the unpickler had its own module
        from mlarray._published import legacy as _legacy
    for obj in set(_legacy._ALLOWED_GLOBALS.values()):
        if getattr(obj, "__qualname__", "").endswith("PWNED") or (callable(obj) and getattr(obj, "__dict__", None)
                                                                  and type(obj).__name__ == "function"):
            return False
    return True


def _peak_kb():
    """Peak resident memory of this process since exec (VmHWM; ru_maxrss would include the parent's
    memory at fork time)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
