"""Run one hostile case in a child process with a memory cap and a timeout, and judge the result.

Used by ``stress/experiments.py``, ``stress/fuzz_struct.py`` and the regression tests. The child
(``stress/_case_worker.py``) runs the case's operations (open, info, convert, napari first frame,
...); the parent kills it after the timeout, reads its peak memory from ``wait4`` and classifies:

  crash        the child died from a signal (not our timeout)                     must be 0
  hang         the child did not finish in time                                   must be 0
  wrong_type   an exception that is not an MLArrayError, or a CLI traceback       must be 0
  disclosure   a conversion output holds bytes of a file outside the input folder must be 0
  escape       ``mlarray info`` printed a raw control character                    must be 0
  code_changed a legacy file changed the reader's stand-in functions (BUILD)      must be 0
  unexpected   the case's documented outcome did not happen (e.g. valid data refused)
  ok           as expected
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

if not __package__:  # run as a script (python stress/x.py): the repository root holds the stress package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress._common import subprocess_env  # noqa: E402

WORKER = Path(__file__).resolve().parent / "_case_worker.py"
BAD = ("crash", "hang", "wrong_type", "disclosure", "escape", "code_changed")
_CONTROL = ("\x1b", "\x00", "\x07", "\x9b", "\x08", "\r", "\u202e")


def run_isolated(path: str, ops, expect: str = "error", env: dict | None = None, timeout: float = 120,
                 mem_mb: int = 4096) -> dict:
    """Run ``ops`` on ``path`` in a capped child; returns the child's results plus ``peak_mb``,
    ``seconds``, ``signal``/``timeout`` and the verdict of :func:`classify`."""
    case = {"path": str(path), "ops": list(ops), "mem_mb": mem_mb}
    proc = subprocess.Popen([sys.executable, str(WORKER), json.dumps(case)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**subprocess_env(), **(env or {})}, start_new_session=True)
    out: dict = {}
    readers = [threading.Thread(target=lambda k=k, f=f: out.__setitem__(k, f.read()), daemon=True)
               for k, f in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for r in readers:
        r.start()
    t0 = time.perf_counter()
    timed_out = False
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - t0 > timeout:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, _ = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(5)
    res: dict = {"peak_mb": None, "seconds": round(time.perf_counter() - t0, 2),
                 "timeout": timed_out, "signal": -proc.returncode if proc.returncode < 0 and not timed_out else None}
    try:
        line = json.loads(out.get("stdout", b"").decode().strip().splitlines()[-1])
        res["ops"] = line["ops"]
        res["stand_ins_intact"] = line.get("stand_ins_intact", True)
        res["peak_mb"] = None if line["peak_kb"] is None else round(line["peak_kb"] / 1024)
    except (IndexError, ValueError, KeyError, TypeError):
        res["ops"] = None
        res["stderr"] = out.get("stderr", b"").decode(errors="replace")[-1500:]
    res["verdict"], res["why"] = classify(expect, res)
    return res


_EXPECT_TYPES = {"limit": "LimitExceededError", "unsafe": "UnsafeLegacyFileError", "corrupt": "CorruptFileError",
                 "conversion": "ConversionError", "error": "MLArrayError"}


def classify(expect, res: dict) -> tuple[str, str]:
    """The worst verdict over the case's operations, and why. ``expect`` is one outcome for all
    operations or a mapping operation -> outcome (``"*"``: the others)."""
    if res["timeout"]:
        return "hang", f"no result after {res['seconds']} s"
    if res["signal"]:
        return "crash", f"signal {res['signal']}"
    if res["ops"] is None:
        return "crash", "no result line: " + res.get("stderr", "")[-300:]
    verdict, why = "ok", ""
    if not res.get("stand_ins_intact", True):
        verdict, why = "code_changed", "a file changed the legacy reader's stand-ins (BUILD on a function)"
    for name, r in res["ops"].items():
        e = expect.get(name, expect.get("*", "error")) if isinstance(expect, dict) else expect
        v, w = _judge(name, "any" if name == "napari" else e, r)
        if BAD_RANK.get(v, 0) > BAD_RANK.get(verdict, 0):
            verdict, why = v, f"{name}: {w}"
    return verdict, why


BAD_RANK = {"ok": 0, "unexpected": 1, "escape": 2, "wrong_type": 3, "code_changed": 4, "disclosure": 4, "hang": 5,
            "crash": 6}


def _judge(name: str, expect: str, r: dict) -> tuple[str, str]:
    if name in ("info", "convert"):
        if not r["ok"]:
            return "wrong_type", f"the CLI raised {r['type']}: {r['msg'][:200]}"
        v = r["value"]
        if "Traceback" in v["stderr"] or v["rc"] not in (0, 1):
            return "wrong_type", f"exit {v['rc']}: {v['stderr'][-300:]}"
        if name == "info" and any(c in v["stdout"] + v["stderr"] for c in _CONTROL):
            return "escape", "raw control characters reached the terminal"
        if v.get("disclosed"):
            return "disclosure", "the output holds bytes of a file outside the input folder"
        if v["rc"] == 1 and len([ln for ln in v["stderr"].splitlines() if "failed" in ln or "mlarray" in ln]) == 0:
            return "wrong_type", "exit 1 without an error line"
        failed = v["rc"] == 1
        if expect == "ok" and failed:
            return "unexpected", f"valid input refused: {v['stderr'][-300:]}"
        if expect not in ("ok", "any") and not failed:
            return "unexpected", f"expected {expect}, the command succeeded"
        return "ok", ""
    if not r["ok"]:
        if not r["mla"]:
            return "wrong_type", f"{r['type']}: {r['msg'][:200]}"
        if expect == "ok":
            return "unexpected", f"valid file refused: {r['type']}: {r['msg'][:200]}"
        if expect == "any":
            return "ok", ""
        if expect in _EXPECT_TYPES and _EXPECT_TYPES[expect] not in r["mro"]:
            return "unexpected", f"expected {_EXPECT_TYPES[expect]}, got {r['type']}: {r['msg'][:200]}"
        return "ok", ""
    if expect not in ("ok", "any") and name not in ("napari",):
        return "unexpected", f"expected {expect}, {name} succeeded"
    return "ok", ""
