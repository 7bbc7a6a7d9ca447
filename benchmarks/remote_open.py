"""Remote reading benchmark: ``.mla`` over HTTP Range requests vs the same data as OME-Zarr.

Everything goes through one local HTTP server on 127.0.0.1 (rangehttpserver's handler, as in
tests/remote) that adds ``--delay`` seconds (default 0.020) to every request and counts requests and
bytes. Side by side, per dataset:

* napari first frame: ``viewer.open(url, plugin="mlarray")`` vs ``viewer.open(url,
  plugin="napari-ome-zarr")`` in a fresh, shown viewer (seconds until the first frame is drawn,
  requests and bytes the server sent for it, the open included);
* random 128³ (CT) / 1024² (slide) patch reads per second: ``MLArray.open(url)[...]`` vs zarr over
  fsspec's HTTP store (``zarr.open_array(url)``) on the full-resolution level;
* requests and bytes of the open alone (``MLArray.open(url)``; goal <= 3 requests);
* the ``.mla`` bytes of the open and of the first frame by part of the file (header, pyramid levels,
  base frame header, chunks, chunk index, metadata, checksum entry), from the server's request log.

Datasets (generated once under ``--cache``): ``ct`` a 1024³ int16 CT phantom
(``mlarray.samples.ct_phantom_slab``) and ``slide`` a 40000² uint8 slide phantom, each with its
pyramid; ``--scale`` shrinks both (``--scale 0.125`` -> 128³ and 5000²) for a quick check. The
OME-Zarr copy is written by ``mlarray convert`` (NGFF, the same pyramid levels).

Each measurement runs in its own process (no cache shared between them). Run under Xvfb::

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/remote_open.py [--scale 0.125] [--json]

Goals (issue 25): first frame >= 2x faster than napari-ome-zarr with <= half its bytes; open in
<= 3 requests; patch reads >= 1.2x remote OME-Zarr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
CT_SIDE, SLIDE_SIDE = 1024, 40000


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data

def make_ct(path: Path, side: int) -> None:
    from mlarray import MLArray
    from mlarray.samples import ct_phantom_slab

    shape = (side, side, side)
    tmp = path.with_name(path.stem + ".partial.mla")
    ml = MLArray.create(tmp, shape, "int16", spacing=[0.7, 0.7, 0.7])
    t0 = time.perf_counter()
    for z0 in range(0, side, 32):
        ml[z0:min(z0 + 32, side)] = ct_phantom_slab(shape, z0, min(z0 + 32, side))
        if (z0 // 32) % 8 == 7:
            _log(f"  {min(z0 + 32, side)}/{side} slices written, {time.perf_counter() - t0:.0f} s")
    ml.close()  # stats + pyramid
    _log(f"  closed (stats, pyramid) after {time.perf_counter() - t0:.0f} s")
    os.replace(tmp, path)


def make_slide(path: Path, side: int) -> None:
    from mlarray import MLArray
    from mlarray.samples import slide_phantom_tile

    tmp = path.with_name(path.stem + ".partial.mla")
    ml = MLArray.create(tmp, (side, side), "uint8", spacing=[0.00025, 0.00025])
    t0 = time.perf_counter()
    for y0 in range(0, side, 1024):
        ml[y0:min(y0 + 1024, side), :] = slide_phantom_tile(y0, min(y0 + 1024, side), 0, side,
                                                            slide_shape=(side, side))
        if (y0 // 1024) % 8 == 7:
            _log(f"  {min(y0 + 1024, side)}/{side} rows written, {time.perf_counter() - t0:.0f} s")
    ml.close()
    _log(f"  closed (stats, pyramid) after {time.perf_counter() - t0:.0f} s")
    os.replace(tmp, path)


def prepare(cache: Path, scale: float, scales: Optional[dict] = None) -> dict:
    from mlarray.cli import main as mlarray_cli

    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind, side, make in (("ct", CT_SIDE, make_ct), ("slide", SLIDE_SIDE, make_slide)):
        side = max(64, int(side * (scales or {}).get(kind, scale)))
        mla = cache / f"{kind}{side}.mla"
        if not mla.exists():
            _log(f"writing {mla}")
            make(mla, side)
        zarr = cache / f"{kind}{side}.ome.zarr"
        if not zarr.exists():
            _log(f"writing {zarr}")
            t0 = time.perf_counter()
            if mlarray_cli(["convert", "--quiet", str(mla), str(zarr)]) != 0:
                raise SystemExit(f"converting {mla} to OME-Zarr failed")
            _log(f"  converted in {time.perf_counter() - t0:.0f} s")
        out[kind] = (mla.name, zarr.name, side)
    return out


# --------------------------------------------------------------------------- the server

class Server:
    """rangehttpserver's handler over ``root`` on 127.0.0.1, with a delay and counters."""

    def __init__(self, root: Path, delay: float) -> None:
        import RangeHTTPServer

        counts = self
        self.requests = 0
        self.nbytes = 0
        self.log: list = []  # (path, Range header, bytes sent) of every request, for --trace
        self.lock = threading.Lock()

        class Counting:
            def __init__(self, raw) -> None:
                self.raw = raw
                self.sent = 0

            def write(self, b):
                self.sent += len(b)
                with counts.lock:
                    counts.nbytes += len(b)
                return self.raw.write(b)

            def __getattr__(self, name):
                return getattr(self.raw, name)

        class Handler(RangeHTTPServer.RangeRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                with counts.lock:
                    counts.requests += 1
                time.sleep(delay)
                f = self.send_head()
                out = Counting(self.wfile)
                if f is not None:
                    try:
                        self.copyfile(f, out)
                    finally:
                        f.close()
                with counts.lock:
                    counts.log.append((self.path, self.headers.get("Range"), out.sent))

            def do_HEAD(self):
                with counts.lock:
                    counts.requests += 1
                time.sleep(delay)
                super().do_HEAD()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.requests = self.nbytes = 0
            self.log = []

    def counts(self) -> dict:
        with self.lock:
            return {"requests": self.requests, "bytes": self.nbytes}


# --------------------------------------------------------------------------- children (one measurement each)

def child_napari(url: str, plugin: str) -> dict:
    sys.path.insert(0, str(HERE))
    import numpy as np
    from napari_open import _viewer  # the shown viewer and synchronous frame of the local benchmark

    viewer, frame = _viewer()
    warm = viewer.add_image(np.zeros((64, 64), np.uint8))  # napari's first-layer cost, paid by any reader
    frame()
    viewer.layers.remove(warm)
    frame()
    print("READY", flush=True)
    sys.stdin.readline()  # the parent resets the server's counters now
    t0 = time.perf_counter()
    layers = viewer.open(url, plugin=plugin)
    frame()
    first = time.perf_counter() - t0
    shot = viewer.screenshot(canvas_only=True, flash=False)
    layer = layers[0]
    out = {"first_frame_s": first, "drawn": bool(shot[..., :3].std() > 1),
           "level_shown": int(getattr(layer, "data_level", 0))}
    viewer.close()
    return out


def child_patches(url: str, fmt: str, patch: int, n: int, seed: int) -> dict:
    import numpy as np

    if fmt == "mla":
        from mlarray import MLArray

        arr = MLArray.open(url)
        shape = arr.shape
    else:
        import zarr

        attrs = zarr.open_group(url, mode="r").attrs.asdict()
        ms = (attrs.get("ome") or attrs)["multiscales"][0]  # NGFF 0.5 nests it under "ome"
        arr = zarr.open_array(f"{url}/{ms['datasets'][0]['path']}", mode="r")  # the full-resolution level
        shape = arr.shape
    rng = np.random.default_rng(seed)
    size = [min(patch, s) for s in shape]
    starts = [[int(rng.integers(0, s - p + 1)) for s, p in zip(shape, size)] for _ in range(n)]
    print("READY", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    for st in starts:
        np.asarray(arr[tuple(slice(a, a + p) for a, p in zip(st, size))])
    wall = time.perf_counter() - t0
    return {"patches_per_s": n / wall, "patch": size}


def child_open(url: str) -> dict:
    print("READY", flush=True)
    sys.stdin.readline()
    from mlarray import MLArray

    t0 = time.perf_counter()
    MLArray.open(url)
    return {"open_s": time.perf_counter() - t0}


def file_parts(path: Path) -> list:
    """(name, start, end) of the parts of a ``.mla``: header, each pyramid level's frame, the base frame's
    header, chunks, chunk index, checksum entry and the rest of its trailer (the metadata)."""
    from mlarray import MLArray
    from mlarray._file.container import base_offset
    from mlarray._file.frame_check import check_vlmeta_entries_in, frame_header, trailer_span
    from mlarray._file.integrity import KEY

    off, size = base_offset(str(path)), path.stat().st_size
    parts = [("header", 0, 16)]
    for k, lv in enumerate(MLArray.open(path).meta.pyramid.levels, start=1):
        parts.append((f"level {k} {'x'.join(map(str, lv['shape']))}", int(lv["offset"]),
                      int(lv["offset"]) + int(lv["nbytes"])))
    with open(path, "rb") as fh:
        h = frame_header(fh, off, str(path))
        trailer, _ = trailer_span(fh, off, size, str(path))
        sums = [(pos, pos + n) for name, pos, n in check_vlmeta_entries_in(fh, off, size, str(path)) if name == KEY]
    index = off + h["header_len"] + h["cbytes"]
    parts += [("base frame header", off, off + h["header_len"]), ("base chunks", off + h["header_len"], index),
              ("base chunk index", index, trailer)]
    if sums:
        parts += [("base trailer: metadata", trailer, sums[0][0]), ("base trailer: checksums", *sums[0]),
                  ("base trailer: end", sums[0][1], size)]
    else:
        parts.append(("base trailer", trailer, size))
    return parts


def bytes_by_part(log: list, parts: list) -> dict:
    """Bytes the server sent for each part of the file (Range requests of ``log``)."""
    import re

    out: dict = {}
    for _, rng, _ in log:
        m = re.match(r"bytes=(\d+)-(\d+)", rng or "")
        if not m:
            continue
        a, b = int(m.group(1)), int(m.group(2)) + 1
        for name, start, end in parts:
            n = min(b, end) - max(a, start)
            if n > 0:
                out[name] = out.get(name, 0) + n
    return out


def run_child(server: Server, args: list) -> dict:
    """Start a measurement process, reset the counters when it is ready, return its answer and the traffic."""
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    if line.strip() != "READY":
        proc.kill()
        raise RuntimeError(f"child {args} failed before measuring: {line!r}")
    server.reset()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    answer = ""
    for line in proc.stdout:  # readers may print to stdout; the answer is marked
        if line.startswith("RESULT "):
            answer = line[len("RESULT "):]
            break
    traffic = server.counts()
    with server.lock:
        traffic["log"] = list(server.log)
    proc.communicate(timeout=600)
    if proc.returncode != 0 or not answer:
        raise RuntimeError(f"child {args} failed (exit {proc.returncode})")
    return {**json.loads(answer), **traffic}


# --------------------------------------------------------------------------- main

def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", default="/tmp/mlarray_bench_remote")
    p.add_argument("--scale", type=float, default=1.0, help="shrink the datasets (0.125: 128³ CT, 5000² slide)")
    p.add_argument("--ct-scale", type=float, default=None, help="the CT's own scale (default: --scale)")
    p.add_argument("--slide-scale", type=float, default=None, help="the slide's own scale (default: --scale)")
    p.add_argument("--delay", type=float, default=0.020, help="seconds added to every request")
    p.add_argument("--patches", type=int, default=20, help="random patches read per format")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "napari":
            out = child_napari(*rest)
        elif kind == "patches":
            out = child_patches(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
        else:
            out = child_open(*rest)
        print("RESULT " + json.dumps(out), flush=True)
        return 0

    started = time.time()
    _log(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average {os.getloadavg()}")
    scales = {k: v for k, v in (("ct", args.ct_scale), ("slide", args.slide_scale)) if v is not None}
    data = prepare(Path(args.cache), args.scale, scales)
    _log(f"data ready after {time.time() - started:.0f} s, load average {os.getloadavg()}")
    server = Server(Path(args.cache), args.delay)
    rows = []
    for kind, (mla, zarr, side) in data.items():
        mla_url, zarr_url = f"{server.url}/{mla}", f"{server.url}/{zarr}"
        _log(f"{kind}: open")
        opened = run_child(server, ["open", mla_url])
        _log(f"{kind}: napari first frame")
        nap_mla = run_child(server, ["napari", mla_url, "mlarray"])
        nap_zarr = run_child(server, ["napari", zarr_url, "napari-ome-zarr"])
        patch = 128 if kind == "ct" else 1024
        _log(f"{kind}: patch reads")
        pr_mla = run_child(server, ["patches", mla_url, "mla", str(patch), str(args.patches), "0"])
        pr_zarr = run_child(server, ["patches", zarr_url, "zarr", str(patch), str(args.patches), "0"])
        parts = file_parts(Path(args.cache) / mla)
        for r in (opened, nap_mla):
            r["by_part"] = bytes_by_part(r.pop("log"), parts)
        for r in (nap_zarr, pr_mla, pr_zarr):
            r.pop("log")
        rows.append({"dataset": kind, "side": side, "delay_s": args.delay, "open": opened,
                     "napari_mla": nap_mla, "napari_omezarr": nap_zarr,
                     "patches_mla": pr_mla, "patches_omezarr": pr_zarr})
    _log(f"measured after {time.time() - started:.0f} s, load average {os.getloadavg()}")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['dataset']} {r['side']}: .mla bytes by part, open / napari first frame")
        for name in dict.fromkeys([*r["open"]["by_part"], *r["napari_mla"]["by_part"]]):
            print(f"  {name:28s} {r['open']['by_part'].get(name, 0) / 1024:9.1f} KB "
                  f"{r['napari_mla']['by_part'].get(name, 0) / 1024:9.1f} KB")
    print("| dataset | .mla open | first frame .mla | first frame OME-Zarr | speed-up | bytes .mla / OME-Zarr "
          "| patches/s .mla | patches/s OME-Zarr | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        o, m, z, pm, pz = r["open"], r["napari_mla"], r["napari_omezarr"], r["patches_mla"], r["patches_omezarr"]
        print(f"| {r['dataset']} {r['side']} | {o['requests']} req, {o['bytes'] / 1024:.0f} KB "
              f"| {m['first_frame_s']:.2f} s, {m['requests']} req, {m['bytes'] / 2**20:.1f} MB "
              f"| {z['first_frame_s']:.2f} s, {z['requests']} req, {z['bytes'] / 2**20:.1f} MB "
              f"| {_ratio(z['first_frame_s'], m['first_frame_s'])} | {_ratio(m['bytes'], z['bytes'])} "
              f"| {pm['patches_per_s']:.1f} | {pz['patches_per_s']:.1f} "
              f"| {_ratio(pm['patches_per_s'], pz['patches_per_s'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
