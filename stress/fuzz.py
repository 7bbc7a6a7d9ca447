#!/usr/bin/env python
"""Fuzz ``.mla`` reading with mutated files, in crash-isolated worker subprocesses.

    python stress/fuzz.py --cases 10000 [--seed 0] [--jobs 2] [--workers 1] [--timeout 30] [--json out.json]
    python stress/fuzz.py --replay 6236 [--seed 0] [--jobs 2]     # one case again, its file kept

``--jobs`` splits the cases into that many shards (each with its own random stream), so a case
number names the same file only for the same seed and jobs; ``--workers`` runs fewer worker
processes at a time without changing the cases (shards then run one after another).

Each case is a mutated copy of a small valid file (truncation, byte flips in the 16-byte MLArray
header, in the pyramid level frames, and in the base frame's header / chunk data / chunk index /
trailer (vlmeta), zeroed ranges, forged shapes, wrong JSON types, deep JSON nesting, huge strings
and numbers, forged pyramid levels (lying offsets/shapes/sizes in the metadata, overwritten or
replaced level frames), huge declared arrays). See docs/spec.md section 1 for the layout. A worker process
opens it with ``MLArray.open`` (reads metadata, every voxel and every level), ``MLArray.load`` and
``mlarray.validate``; the parent restarts the worker if it dies and kills it after ``--timeout``
seconds on one case.

Outcome classes (per case):
  crash / hang        the worker died or stalled on this file (replayed in a fresh worker) (must be 0)
  crash_stateful      the worker died, but a fresh worker reads the same file fine (state from earlier cases)
  bad_error           an exception that is not an MLArrayError (must be 0)
  unnamed             an MLArrayError whose message does not name the file (must be 0)
  silent_data         open/load returned voxels that differ from the original (must be 0)
  silent_meta         metadata differs from the original without an error (byte mutations only)
  detected            an MLArrayError was raised
  harmless            the mutation changed nothing the reader returns
  accepted            a semantic mutation produced a valid file that reads fine
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Optional

if not __package__:  # run as a script (python stress/x.py): the repository root holds the stress package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stress._common import (  # noqa: E402
    assemble_file,
    base_offset_of,
    make_base_files,
    open_base,
    split_frames,
    subprocess_env,
    unsealed,
)

# flip_header/chunks/index/trailer/zero_chunks/forge_b2nd_ints target the base frame (the last one);
# flip_container the 16-byte MLArray header; flip_levels the pyramid level frames in front of the base
BYTE_CLASSES = ["truncate", "flip_container", "flip_header", "flip_chunks", "flip_index", "flip_trailer",
                "zero_chunks", "flip_levels", "flip_any", "forge_b2nd_ints"]
SEMANTIC_CLASSES = ["json_wrong_type", "json_deep", "json_huge", "json_text", "meta_entry_type",
                    "marker", "level_forge", "huge_array"]
ALL_CLASSES = BYTE_CLASSES + SEMANTIC_CLASSES

_gen_lock = threading.Lock()


# ----------------------------------------------------------------------------- mutations
def _flip(data: bytearray, lo: int, hi: int, rng: random.Random, n: int) -> list[int]:
    where = []
    if hi <= lo:
        return where
    for _ in range(n):
        i = rng.randrange(lo, hi)
        data[i] ^= rng.randrange(1, 256)
        where.append(i)
    return where


def mutate_bytes(base: dict, cls: str, rng: random.Random, dst: Path) -> str:
    data = bytearray(Path(base["path"]).read_bytes())
    reg = base["regions"]
    size = len(data)
    if cls == "truncate":
        cut = rng.randrange(0, size)
        data = data[:cut]
        desc = f"truncate at {cut}/{size}"
    elif cls == "flip_container":
        lo, hi = reg["container"] or (0, 16)
        if rng.random() < 0.5:  # the magic, or the base-frame offset (uint64 LE: low bytes matter most)
            desc = f"flip MLArray header {_flip(data, lo, hi, rng, rng.choice([1, 1, 2]))}"
        else:
            desc = f"flip base offset {_flip(data, lo + 8, lo + 10, rng, 1)}"
    elif cls == "flip_levels":
        if not reg["levels"]:
            return mutate_bytes(base, "flip_container", rng, dst)
        lv = rng.choice(reg["levels"])
        part = rng.choice(["chunk", "chunk", "header", "index", "trailer", "frame"])
        if part == "chunk":
            lo, hi = rng.choice(lv["chunk_spans"] or [lv["chunks"]])
        else:
            lo, hi = lv[part]
        desc = f"flip level frame {part} {_flip(data, lo, hi, rng, rng.choice([1, 1, 2, 8]))}"
    elif cls == "flip_header":
        desc = f"flip header {_flip(data, *reg['header'], rng, rng.choice([1, 1, 2, 4]))}"
    elif cls == "flip_chunks":
        spans = reg["chunk_spans"] or [tuple(reg["chunks"])]
        lo, hi = rng.choice(spans)
        desc = f"flip chunk data {_flip(data, lo, hi, rng, rng.choice([1, 1, 1, 2, 8]))}"
    elif cls == "flip_index":
        desc = f"flip chunk index {_flip(data, *reg['index'], rng, rng.choice([1, 2]))}"
    elif cls == "flip_trailer":
        desc = f"flip trailer {_flip(data, *reg['trailer'], rng, rng.choice([1, 1, 2, 4]))}"
    elif cls == "zero_chunks":
        lo, hi = reg["chunks"]
        if hi <= lo:
            lo, hi = 0, size
        start = rng.randrange(lo, hi)
        n = rng.choice([16, 64, 512, 4096])
        data[start:start + n] = bytes(len(data[start:start + n]))
        desc = f"zero {n} bytes at {start}"
    elif cls == "flip_any":
        desc = f"flip anywhere {_flip(data, 0, size, rng, rng.randrange(1, 9))}"
    elif cls == "forge_b2nd_ints":
        # int64 fields (0xd3 + 8 bytes) of the b2nd metalayer: shape, chunkshape, blockshape
        hdr_lo, hdr_hi = reg["header"]
        start = max(reg["b2nd_meta"], 0)
        pos = [i for i in range(start, hdr_hi - 9) if data[i] == 0xD3]
        pos += [i for i in range(start, hdr_hi - 5) if data[i] == 0xD2]  # int32 fields
        if not pos:
            return mutate_bytes(base, "flip_header", rng, dst)
        i = rng.choice(pos)
        width = 8 if data[i] == 0xD3 else 4
        val = rng.choice([0, -1, 2**31 - 1, 2**40, 2**62, rng.randrange(1, 10**6)])
        val = max(min(val, 2 ** (8 * width - 1) - 1), -(2 ** (8 * width - 1)))
        data[i + 1:i + 1 + width] = val.to_bytes(width, "big", signed=True)
        desc = f"forge int{8 * width} at {i} = {val}"
    else:
        raise ValueError(cls)
    dst.write_bytes(bytes(data))
    return desc


def _deep(depth: int, kind: str):
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def mutate_semantic(base: dict, cls: str, rng: random.Random, dst: Path) -> str:
    import blosc2
    import numpy as np

    shutil.copyfile(base["path"], dst)
    with _gen_lock:
        store = open_base(dst, mode="a")
        meta = unsealed(json.loads(store.vlmeta["mla.meta"]))  # the forger writes no metadata checksum
        desc = cls
        if cls == "json_wrong_type":
            junk = rng.choice([None, 7, -1, 1e308, "x", [], {}, [1, "a"], {"k": [None]}, True, 2**70])
            target = rng.choice([
                ("format_version",), ("has_array",), ("spatial",), ("spatial", "spacing"), ("spatial", "shape"),
                ("spatial", "direction"), ("spatial", "axis_labels"), ("stats",), ("stats", "min"),
                ("bbox",), ("bbox", "bboxes"), ("classes",), ("extra",), ("blosc2",), ("blosc2", "chunk_size"),
                ("pyramid",), ("pyramid", "levels"), ("is_seg",), ("writer",), ("unknown_key",)])
            d = meta
            for k in target[:-1]:
                d = d.setdefault(k, {}) if isinstance(d.get(k, {}), dict) else {}
            d[target[-1]] = junk
            pyr = meta.get("pyramid")
            if isinstance(pyr, dict) and isinstance(pyr.get("levels"), list) and pyr["levels"] \
                    and isinstance(pyr["levels"][0], dict) and rng.random() < 0.3:
                lv = meta["pyramid"]["levels"][0]
                lv[rng.choice(["shape", "scale", "offset", "nbytes"])] = junk
            text = json.dumps(meta)
            desc = f"{'.'.join(target)} = {junk!r}"
        elif cls == "json_deep":
            depth = rng.choice([63, 65, 200, 5000, 100000])
            text = json.dumps(meta)[:-1] + ',"extra":' + _deep(depth, rng.choice(["list", "dict"])) + "}"
            meta.pop("extra", None)
            desc = f"nesting depth {depth}"
        elif cls == "json_huge":
            what = rng.choice(["string", "digits", "float", "many_keys", "shape"])
            if what == "string":
                meta["extra"] = {"s": "x" * rng.choice([10**6, 5 * 10**6])}
                text = json.dumps(meta)
            elif what == "digits":
                text = json.dumps(meta)[:-1] + ',"extra":{"n":' + "9" * rng.choice([4000, 5000, 10**6]) + "}}"
            elif what == "float":
                text = json.dumps(meta)[:-1] + ',"extra":{"n":1e999}}'
            elif what == "many_keys":
                meta["extra"] = {f"k{i}": i for i in range(rng.choice([2000, 20000]))}
                text = json.dumps(meta)
            else:
                if "spatial" in meta:
                    meta["spatial"]["shape"] = [2**40] * len(meta["spatial"].get("shape") or [1])
                if meta.get("pyramid", {}).get("levels"):
                    meta["pyramid"]["levels"][0]["shape"] = [2**40, 2**40]
                text = json.dumps(meta)
            desc = f"huge {what}"
        elif cls == "json_text":
            raw = json.dumps(meta)
            choice = rng.choice(["cut", "nan", "array", "garbage", "bom", "dupkeys", "empty"])
            text = {"cut": raw[: rng.randrange(0, len(raw))], "nan": raw[:-1] + ',"extra":{"v":NaN}}',
                    "array": "[" + raw + "]", "garbage": "\x00\x01}{", "bom": "\ufeff" + raw,
                    "dupkeys": raw[:-1] + ',"has_array":false}', "empty": ""}[choice]
            desc = f"json text: {choice}"
        elif cls == "meta_entry_type":
            val = rng.choice([b"\xff\xfe\x00bad", 123, [1, 2], {"a": 1}, None, b"{}", 1.5])
            store.vlmeta["mla.meta"] = val
            del store
            return f"mla.meta entry = {val!r}"
        elif cls == "marker":
            val = rng.choice([{"version": 2}, {"version": 9}, {"versi0n": 1}, {"version": "1"}, {"version": 0}])
            try:
                store.schunk.meta["mla"] = val
                desc = f"marker = {val!r}"
            except Exception as exc:  # fixed-size metalayer: same-size values only
                desc = f"marker unchanged ({type(exc).__name__})"
            del store
            return desc
        elif cls == "level_forge":
            del store
            return _forge_level(meta, rng, dst)
        elif cls == "huge_array":
            # A perfectly well-formed file whose (uninitialized) array claims TBs: opening must be cheap,
            # reading everything must fail with a clear error, not an OOM kill.
            del store
            shape = rng.choice([(2**20, 2**20), (4096, 4096, 4096), (10**6, 10**6, 3)])
            os.unlink(dst)
            frame = dst.with_name(dst.name + ".frame")
            big = blosc2.uninit(shape, dtype=np.float32, urlpath=str(frame), mode="w",
                                chunks=tuple(min(s, 256) for s in shape), blocks=tuple(min(s, 32) for s in shape),
                                meta={"mla": {"version": 1}})
            meta["spatial"] = dict(meta.get("spatial", {}), shape=list(shape), axis_labels=None,
                                   spacing=None, origin=None, direction=None, affine=None)
            meta["spatial"] = {k: v for k, v in meta["spatial"].items() if v is not None}
            meta["has_array"] = True
            meta["pyramid"] = {"levels": []}
            meta.pop("blosc2", None)
            big.vlmeta["mla.meta"] = json.dumps(meta)
            del big
            layout = rng.choice(["mla", "mla", "plain"])  # plain: a bare frame at offset 0, as 0.0.x wrote
            if layout == "mla":
                assemble_file(dst, frame.read_bytes())
                frame.unlink()
            else:
                os.replace(frame, dst)
            return f"huge array {shape} ({layout} layout)"
        else:
            raise ValueError(cls)
        store.vlmeta["mla.meta"] = text
        del store
    return desc


def _forge_level(meta: dict, rng: random.Random, dst: Path) -> str:
    """Lie about a pyramid level: in the metadata (offset/shape/nbytes), or in the level frame's bytes.

    The metadata lies are what a buggy or hostile writer produces; the frame replacements rebuild the
    file (header, forged level frames, the original base frame) as such a writer would.
    """
    import blosc2
    import numpy as np

    levels = (meta.get("pyramid") or {}).get("levels") or []
    size = dst.stat().st_size
    base_off = base_offset_of(dst)
    kinds = ["offset_lie", "shape_lie", "nbytes_lie", "garbage", "zeroed", "huge_zeros", "other_dtype"]
    kind = rng.choice(kinds) if levels else "phantom"
    if kind in ("offset_lie", "shape_lie", "nbytes_lie", "phantom"):
        if kind == "phantom":  # a level listed in the metadata of a file that has none
            shape = list(meta.get("spatial", {}).get("shape") or [4])
            levels.append({"shape": [max(1, n // 2) for n in shape], "scale": [2.0] * len(shape),
                           "offset": rng.choice([16, base_off, 0]), "nbytes": rng.choice([0, 100])})
            meta.setdefault("pyramid", {})["levels"] = levels
            what = f"offset {levels[-1]['offset']}"
        else:
            lv = rng.choice(levels)
            if kind == "offset_lie":  # into the MLArray header, mid-frame, the base frame, past the end
                lv["offset"] = rng.choice([0, 8, lv["offset"] + rng.randrange(1, 64), base_off, size,
                                           size + 4096, 2**40, 2**63 - 1])
                what = f"offset {lv['offset']}"
            elif kind == "shape_lie":
                lv["shape"] = rng.choice([[2**16, 2**16], [2**40] * len(lv["shape"]), [1] * len(lv["shape"]),
                                          [n + 1 for n in lv["shape"]], lv["shape"][:1]])
                what = f"shape {lv['shape']}"
            else:
                lv["nbytes"] = rng.choice([0, 1, lv["nbytes"] // 2, size, 2**62])
                what = f"nbytes {lv['nbytes']}"
        store = open_base(dst, mode="a")
        store.vlmeta["mla.meta"] = json.dumps(meta)
        del store
        return f"level forged: {kind} ({what})"
    k = rng.randrange(len(levels))
    lv = levels[k]
    if kind in ("garbage", "zeroed"):  # overwrite the level frame in place (same size)
        data = bytearray(dst.read_bytes())
        lo, n = lv["offset"], lv["nbytes"]
        start = lo + (rng.randrange(0, n) if kind == "zeroed" else 0)
        fill = bytes(rng.randrange(256) for _ in range(n)) if kind == "garbage" else bytes(lo + n - start)
        data[start:start + len(fill)] = fill
        dst.write_bytes(bytes(data))
        return f"level {k + 1} forged: {kind} from byte {start}"
    base_frame, frames = split_frames(dst)
    if kind == "huge_zeros":
        frames[k] = blosc2.zeros((2**16, 2**16), dtype=np.uint8, chunks=(4096, 4096), blocks=(64, 64)).to_cframe()
    else:
        frames[k] = blosc2.asarray(np.zeros(lv["shape"], np.complex128)).to_cframe()
    keep_sums = rng.random() < 0.5
    assemble_file(dst, base_frame, frames)
    if not keep_sums:  # the forger rewrote the file without our checksums: only the shape check is left
        store = open_base(dst, mode="a")
        if "mla.checksums" in store.vlmeta:
            del store.vlmeta["mla.checksums"]
        del store
    return f"level {k + 1} forged: {kind} ({'checksums kept' if keep_sums else 'no checksums'})"


def make_case(bases: list[dict], cls: str, rng: random.Random, dst: Path) -> tuple[dict, str]:
    base = rng.choice(bases)
    if cls in ("flip_levels", "level_forge") and rng.random() < 0.8:  # mostly files that have levels
        base = rng.choice([b for b in bases if b["regions"]["levels"]] or bases)
    if cls in BYTE_CLASSES:
        return base, mutate_bytes(base, cls, rng, dst)
    return base, mutate_semantic(base, cls, rng, dst)


# ----------------------------------------------------------------------------- worker management
class Worker:
    def __init__(self, logdir: Path, mem_mb: int):
        self.logdir = logdir
        self.mem_mb = mem_mb
        self.proc = None
        self.starts = 0

    def start(self):
        env = subprocess_env()
        env["MLA_FUZZ_MEM_MB"] = str(self.mem_mb)
        self.stderr = open(self.logdir / f"worker-{id(self)}-{self.starts}.stderr", "wb")
        self.proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "_fuzz_worker.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self.starts += 1
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fuzz worker failed to start: " + Path(self.stderr.name).read_text()[-2000:])

    def run(self, case: dict, timeout: float) -> tuple[str, dict]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        try:
            self.proc.stdin.write((json.dumps(case) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._dead("crash")
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            return self._dead("hang")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            return self._dead("crash")
        return "done", json.loads(line)

    def _dead(self, kind):
        rc = self.proc.returncode
        self.stderr.flush()
        tail = Path(self.stderr.name).read_bytes()[-1500:].decode("utf-8", "replace")
        self.proc = None
        return kind, {"returncode": rc, "stderr_tail": tail}

    def stop(self):
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def classify(base: dict, cls: str, result: dict) -> tuple[str, str]:
    ops = result["ops"]
    for name, r in ops.items():
        if not r["ok"] and not r["mla"]:
            return "bad_error", f"{name}: {r['type']}: {r['msg']}\n{r.get('tb', '')}"
    for name, r in ops.items():
        if not r["ok"] and not r["names_file"]:
            return "unnamed", f"{name}: {r['type']}: {r['msg']}"
    raised = any(not r["ok"] for r in ops.values())
    for name in ("open", "load"):
        r = ops[name]
        if r["ok"] and "data" in base and r["value"].get("data") not in (None, base["data"]):
            if cls not in ("huge_array",):
                return "silent_data", f"{name} returned different voxels"
        if r["ok"] and name == "open" and "levels" in base and r["value"].get("levels") is not None:
            if r["value"]["levels"] != base["levels"] and cls in BYTE_CLASSES:
                return "silent_data", "open returned different pyramid voxels"
    if cls in BYTE_CLASSES:
        for name in ("open", "load"):
            r = ops[name]
            if r["ok"] and r["value"]["meta"] != base["meta"]:
                return "silent_meta", f"{name} returned different metadata"
    if raised:
        return "detected", ""
    if ops["validate"]["ok"] and ops["validate"]["value"]:
        return "detected", "validate reported errors"
    return ("harmless" if cls in BYTE_CLASSES else "accepted"), ""


def run(cases: int, seed: int = 0, jobs: int = 2, timeout: float = 30.0, classes=None, mem_mb: int = 3072,
        workdir=None, verbose: bool = True, workers: Optional[int] = None, only: Optional[set] = None) -> dict:
    """Run ``cases`` cases in ``jobs`` shards, at most ``workers`` worker processes at a time.

    ``only``: run just these case numbers; the cases before them are still generated (not run),
    because each shard's random stream decides what every later case looks like.
    """
    classes = classes or ALL_CLASSES
    tmp = Path(workdir or tempfile.mkdtemp(prefix="mla-fuzz-"))
    tmp.mkdir(parents=True, exist_ok=True)
    bases = make_base_files(tmp / "base")
    by_name = {b["name"]: b for b in bases}
    counts: Counter = Counter()
    samples: dict[str, list] = {k: [] for k in ("detected", "accepted", "harmless", "silent_data", "silent_meta",
                                                "bad_error", "unnamed", "crash", "crash_stateful", "hang")}
    per_class: dict[str, Counter] = {c: Counter() for c in classes}
    findings: list[dict] = []
    lock = threading.Lock()
    t0 = time.time()
    seconds: list[float] = []

    def shard(j: int):
        if only is not None and not any(n % jobs == j for n in only):
            return
        rng = random.Random(seed * 1000 + j)
        w = Worker(tmp, mem_mb)
        casedir = tmp / f"cases{j}"
        casedir.mkdir(exist_ok=True)
        try:
            for n in range(j, cases, jobs):
                if only is not None and n > max(only):
                    break
                cls = classes[n % len(classes)]
                dst = casedir / f"case {n} ünï'\"code.mla"  # unusual characters on purpose
                tg = time.time()
                try:
                    base, desc = make_case(bases, cls, rng, dst)
                except Exception as exc:  # a generator bug must not stop the run; it is reported
                    with lock:
                        counts["gen_error"] += 1
                        findings.append({"case": n, "class": cls, "base": "?", "mutation": "", "outcome": "gen_error",
                                         "detail": f"{type(exc).__name__}: {exc}", "file": ""})
                    continue
                if only is not None and n not in only:
                    dst.unlink(missing_ok=True)
                    continue
                case = {"id": n, "path": str(dst)}
                t = time.time()
                status, res = w.run(case, timeout)
                dt = time.time() - t
                if status == "crash":
                    # replay the case in a fresh worker: a crash caused by state left by earlier cases
                    # (heap damage in C) is told apart from one this file causes on its own
                    fresh = Worker(tmp, mem_mb)
                    st2, res2 = fresh.run(case, timeout)
                    fresh.stop()
                    if st2 == "done":
                        status, res = "crash_stateful", dict(res, replay="fresh worker read it without crashing")
                if status == "done":
                    outcome, detail = classify(by_name[base["name"]], cls, res)
                else:
                    outcome, detail = status, json.dumps(res)
                with lock:
                    seconds.append(dt)
                    counts[outcome] += 1
                    per_class[cls][outcome] += 1
                    if len(samples[outcome]) < 400:
                        msgs = {k: v.get("msg", "") for k, v in res.get("ops", {}).items() if not v.get("ok", True)}
                        samples[outcome].append({"case": n, "class": cls, "mutation": desc[:200], "errors": msgs,
                                                 "seconds": round(dt, 2), "gen_seconds": round(t - tg, 2)})
                    if only is not None or outcome in ("crash", "crash_stateful", "hang", "bad_error", "unnamed",
                                                       "silent_data", "silent_meta"):
                        keep = tmp / "findings" / f"{n}-{cls}.mla"
                        keep.parent.mkdir(exist_ok=True)
                        shutil.copyfile(dst, keep)
                        findings.append({"case": n, "class": cls, "base": base["name"], "mutation": desc,
                                         "outcome": outcome, "detail": detail[:2000], "file": str(keep)})
                    done = sum(counts.values())
                    if verbose and done % max(1, cases // 20) == 0:
                        print(f"  {done}/{cases} cases, {time.time() - t0:.0f}s: {dict(counts)}", flush=True)
                dst.unlink(missing_ok=True)
        finally:
            w.stop()

    threads = [threading.Thread(target=shard, args=(j,)) for j in range(jobs)]
    batch = max(1, min(workers or jobs, jobs))
    for i in range(0, jobs, batch):  # one worker process per running shard
        for th in threads[i:i + batch]:
            th.start()
        for th in threads[i:i + batch]:
            th.join()
    summary = {"cases": sum(counts.values()), "seconds": round(time.time() - t0, 1), "outcomes": dict(counts),
               "per_class": {c: dict(v) for c, v in per_class.items()},
               "max_case_seconds": round(max(seconds), 2) if seconds else 0,
               "findings": findings, "samples": samples, "workdir": str(tmp)}
    return summary


def print_summary(s: dict) -> None:
    print(f"fuzz: {s['cases']} cases in {s['seconds']} s (slowest case {s['max_case_seconds']} s)")
    print("  outcomes:", json.dumps(s["outcomes"], sort_keys=True))
    for c, v in s["per_class"].items():
        print(f"  {c:18s} {json.dumps(v, sort_keys=True)}")
    for f in s["findings"][:30]:
        print(f"  FINDING case {f['case']} [{f['class']}/{f['base']}] {f['mutation'][:80]} -> {f['outcome']}: "
              f"{f['detail'][:300]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2,
                    help="shards (each its own random stream; part of a case's identity)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes at a time (default: --jobs)")
    ap.add_argument("--replay", type=int, action="append", default=None, metavar="CASE",
                    help="run only this case number (repeatable); its file is kept under <workdir>/findings")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per case")
    ap.add_argument("--mem-mb", type=int, default=3072, help="address-space cap of the worker")
    ap.add_argument("--classes", default=",".join(ALL_CLASSES))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None, help="write the summary here")
    a = ap.parse_args(argv)
    only = set(a.replay) if a.replay else None
    cases = max(max(only) + 1, a.cases) if only else a.cases
    s = run(cases, a.seed, a.jobs, a.timeout, a.classes.split(","), a.mem_mb, a.workdir, workers=a.workers, only=only)
    print_summary(s)
    if a.json:
        Path(a.json).write_text(json.dumps(s, indent=1))
    bad = sum(s["outcomes"].get(k, 0) for k in ("crash", "hang", "bad_error", "unnamed", "silent_data"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
