"""napari open benchmark: time to first frame, RSS growth, pan/scroll frame time, 3D toggle.

Datasets (generated streaming on first run, cached under ``--cache``, default /tmp/mlarray_bench):

* ``ct``: 1024³ int16 CT-like phantom (``mlarray.samples.ct_phantom_slab``), LPS, 0.7 mm voxels;
* ``slide``: 40000² uint8 histology-like slide (``mlarray.samples.slide_phantom_tile``).

Each dataset is measured in a fresh Python process (so RSS growth is the plugin's, not a previous
dataset's) with a real, shown napari window; run under Xvfb on a headless machine::

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/napari_open.py

Targets: first frame <= 0.3 s and <= +100 MB RSS; pan/scroll <= 50 ms per frame; 3D toggle <= 1 s.
Each run also measures the same viewer actions on in-memory numpy arrays of the sizes napari
shows (napari + OpenGL alone, no reader): the floor any reader pays on the machine at hand.

``--fresh N`` measures what a user waits for after starting napari (issue 18, item 11): in N
alternating rounds, a fresh process shows a viewer and then either adds an in-memory array of the
size the file's first view shows (napari's floor: its first-layer set-up and drawing; for the CT a
stack of 1024² int16 planes, for the slide the pyramid level shown) or opens the file through the
plugin (imports, header, first levels, contrast limits, layers). The plugin's *overhead* is the
median difference; the imports of the first file are profiled with ``-X importtime``.
``--seg3d`` times the 3D toggle of a
paintable 512 x 512 x 400 segmentation against the same labels handed to napari as a numpy array
(what the plugin did before it showed a pyramid level in 3D).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CT_SHAPE = (1024, 1024, 1024)
SLIDE_SHAPE = (40000, 40000)


# --------------------------------------------------------------------------- data generation

def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_ct(path: Path, n: int = CT_SHAPE[0]) -> None:
    """The CT phantom at ``n``³ (the same anatomy: spacing 0.7 mm at 1024³, scaled), written slab by slab."""
    from mlarray import Meta, MLArray
    from mlarray.samples import ct_phantom_slab

    shape = (n, n, n)
    tmp = path.with_name(path.stem + ".partial.mla")
    ml = MLArray.create(tmp, shape, "int16", spacing=[0.7 * CT_SHAPE[0] / n] * 3,
                        direction=[[0, 0, 1], [0, 1, 0], [1, 0, 0]], coord_system="LPS",
                        meta=Meta(source={"bench": "ct"}))
    step = 32
    t0 = time.perf_counter()
    for z0 in range(0, n, step):
        z1 = min(z0 + step, n)
        ml[z0:z1] = ct_phantom_slab(shape, z0, z1)
        _log(f"  ct slab {z1}/{n} ({time.perf_counter() - t0:.0f} s)")
    ml.close()  # stats + pyramid
    os.replace(tmp, path)


def make_slide(path: Path) -> None:
    from mlarray import Meta, MLArray
    from mlarray.samples import slide_phantom_tile

    tmp = path.with_name(path.stem + ".partial.mla")
    ml = MLArray.create(tmp, SLIDE_SHAPE, "uint8", spacing=[0.00025, 0.00025], meta=Meta(source={"bench": "slide"}))
    step = 1024
    t0 = time.perf_counter()
    for y0 in range(0, SLIDE_SHAPE[0], step):
        y1 = min(y0 + step, SLIDE_SHAPE[0])
        ml[y0:y1, :] = slide_phantom_tile(y0, y1, 0, SLIDE_SHAPE[1])
        _log(f"  slide rows {y1}/{SLIDE_SHAPE[0]} ({time.perf_counter() - t0:.0f} s)")
    ml.close()
    os.replace(tmp, path)


def make_slide_tiled(path: Path) -> None:
    """A 40000² slide made of one 1024² phantom tile repeated: minutes instead of the hour or more
    :func:`make_slide` takes on a loaded 2-core machine. Opening reads the header and the coarsest
    levels, so the first frame does not depend on the tissue's layout."""
    import numpy as np

    from mlarray import Meta, MLArray
    from mlarray.samples import slide_phantom_tile

    tile = slide_phantom_tile(15000, 16024, 15000, 16024, slide_shape=SLIDE_SHAPE)
    tmp = path.with_name(path.stem + ".partial.mla")
    ml = MLArray.create(tmp, SLIDE_SHAPE, "uint8", spacing=[0.00025, 0.00025], meta=Meta(source={"bench": "slide"}))
    reps = -(-SLIDE_SHAPE[1] // tile.shape[1])
    row = np.tile(tile, (1, reps))[:, :SLIDE_SHAPE[1]]
    for y0 in range(0, SLIDE_SHAPE[0], tile.shape[0]):
        y1 = min(y0 + tile.shape[0], SLIDE_SHAPE[0])
        ml[y0:y1, :] = row[: y1 - y0]
    ml.close()
    os.replace(tmp, path)


# --------------------------------------------------------------------------- measurement (child)

def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _viewer():
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1200, 900)
    app = QApplication.instance()
    canvas = viewer.window._qt_viewer.canvas.native

    def frame() -> float:
        t = time.perf_counter()
        app.processEvents()
        canvas.repaint()  # synchronous paintGL
        app.processEvents()
        return time.perf_counter() - t

    for _ in range(5):
        frame()
    return viewer, frame


def _scroll(viewer, frame, n: int = 20) -> list:
    """A new slice every frame."""
    z = viewer.dims.current_step[0]
    out = []
    for i in range(n):
        viewer.dims.set_current_step(0, z + 7 * (i + 1))
        out.append(frame())
    return out


def _camera(viewer):
    return (viewer.scene if hasattr(viewer, "scene") else viewer).camera  # napari 0.9 moved it


def _pan(viewer, frame, zoom: float, step: float, n: int = 20) -> list:
    cam = _camera(viewer)
    cam.zoom = cam.zoom * zoom
    frame()
    frame()
    out = []
    for i in range(n):
        c = list(cam.center)
        d = step * (1 if i % 10 < 5 else -1)
        c[-1] += d
        c[-2] += d / 2
        cam.center = c
        out.append(frame())
    return out


def _toggle_3d(viewer, frame) -> float:
    t0 = time.perf_counter()
    viewer.dims.ndisplay = 3
    frame()
    return time.perf_counter() - t0


def _ms(times: list) -> float:
    import numpy as np

    return 1000 * float(np.median(times))


def napari_floor(kind: str, viewer, frame) -> dict:
    """The same viewer actions on in-memory numpy data of the sizes napari shows from the file.

    This is napari + OpenGL alone (no reader): a per-frame floor no plugin can go below on this
    machine. CT: 1024² int16 planes (the full-resolution level a 1200x900 window shows) and a
    256³ volume (the level the 3D view uses); slide: a 4096² uint8 tile panned at full resolution.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    out = {}
    if kind == "ct":
        planes = rng.integers(-1000, 1000, size=(160, 1024, 1024), dtype=np.int16)
        t0 = time.perf_counter()
        layer = viewer.add_image(planes, contrast_limits=(-1000, 1000))
        frame()
        out["first_frame_s"] = time.perf_counter() - t0
        out["scroll_ms"] = _ms(_scroll(viewer, frame))
        out["pan_ms"] = _ms(_pan(viewer, frame, 4, 60))
        viewer.layers.remove(layer)
        viewer.reset_view()
        volume = rng.integers(-1000, 1000, size=(256, 256, 256), dtype=np.int16)
        layer = viewer.add_image(volume, contrast_limits=(-1000, 1000))
        frame()
        out["toggle_3d_s"] = _toggle_3d(viewer, frame)
        viewer.dims.ndisplay = 2
        viewer.layers.remove(layer)
    else:
        tile = rng.integers(0, 255, size=(4096, 4096), dtype=np.uint8)
        t0 = time.perf_counter()
        layer = viewer.add_image(tile, contrast_limits=(0, 255))
        frame()
        out["first_frame_s"] = time.perf_counter() - t0
        out["pan_ms"] = _ms(_pan(viewer, frame, 4, 60))
        viewer.layers.remove(layer)
    viewer.reset_view()
    frame()
    return out


def measure(path: str, kind: str) -> dict:
    import gc

    import numpy as np

    viewer, frame = _viewer()
    # napari's one-time cost of the first layer in a process (pint unit registry, vispy shaders),
    # paid by any reader: measured and reported separately, then excluded from the plugin's figure.
    t0 = time.perf_counter()
    warm = viewer.add_image(np.zeros((64, 64), np.uint8))
    frame()
    warmup = time.perf_counter() - t0
    viewer.layers.remove(warm)
    frame()
    floor = napari_floor(kind, viewer, frame)
    gc.collect()
    rss0 = _rss_mb()
    # First file of the session: includes importing mlarray and Blosc2 (once per napari session).
    t0 = time.perf_counter()
    layers = viewer.open(path, plugin="mlarray")
    frame()
    first = time.perf_counter() - t0
    rss1 = _rss_mb()
    viewer.layers.clear()
    frame()
    # Every later drop: the same file opened again in the same session.
    t0 = time.perf_counter()
    layers = viewer.open(path, plugin="mlarray")
    frame()
    again = time.perf_counter() - t0
    layer = layers[0]
    out = {"dataset": kind, "first_frame_s": first, "first_frame_again_s": again,
           "napari_first_layer_warmup_s": warmup, "rss_growth_mb": rss1 - rss0, "napari_floor": floor,
           "levels": [list(lv.shape) for lv in layer.data] if layer.multiscale else [list(layer.data.shape)],
           "level_first_frame": int(layer.data_level)}
    if kind == "ct":
        times = _scroll(viewer, frame)
        out["scroll_ms_median"] = _ms(times)
        out["scroll_ms_max"] = 1000 * float(np.max(times))
    # pan at 4x zoom (full-resolution level for the slide)
    times = _pan(viewer, frame, 4 if kind == "ct" else 64, 60 if kind == "ct" else 2)
    out["pan_ms_median"] = _ms(times)
    out["pan_ms_max"] = 1000 * float(np.max(times))
    out["level_zoomed"] = int(layer.data_level)
    out["rss_after_pan_mb"] = _rss_mb() - rss0
    if kind == "ct":
        out["toggle_3d_s"] = _toggle_3d(viewer, frame)
        out["level_3d"] = int(layer.data_level)
        out["level_3d_shape"] = list(layer.data[layer.data_level].shape)
        out["rss_after_3d_mb"] = _rss_mb() - rss0
        t0 = time.perf_counter()
        viewer.dims.ndisplay = 2
        frame()
        out["toggle_back_2d_s"] = time.perf_counter() - t0
    viewer.close()
    return out


# --------------------------------------------------------------------------- fresh-process rounds

SEG_SHAPE = (400, 512, 512)


def make_seg(path: Path) -> None:
    from mlarray import Meta, MLArray
    from mlarray.samples import ct_phantom_labels

    lab = ct_phantom_labels(SEG_SHAPE)
    MLArray(lab, spacing=[1.0, 0.7, 0.7], meta=Meta(is_seg=True)).save(path)


def fresh_child(mode: str, path: str, shape: str = "") -> dict:
    """One fresh-process measurement (see the module docstring).

    ``floor``: an in-memory array of ``shape`` (``x``-separated; the CT's or the slide's first
    view as napari shows it from the file) added to the viewer; ``ours``: the file opened through
    the plugin, reporting the shape of the level its first frame shows.
    """
    import numpy as np

    viewer, frame = _viewer()
    out = {"mode": mode}
    if mode == "floor":
        dims = tuple(int(v) for v in shape.split("x"))
        dtype = np.int16 if len(dims) == 3 else np.uint8
        lo, hi = (-1000, 1000) if dtype == np.int16 else (0, 255)
        data = np.random.default_rng(0).integers(lo, hi, size=dims, dtype=dtype)
        t0 = time.perf_counter()
        viewer.add_image(data, contrast_limits=(lo, hi))
    elif mode == "ours":
        t0 = time.perf_counter()
        layers = viewer.open(path, plugin="mlarray")
        frame()
        out["s"] = time.perf_counter() - t0
        layer = layers[0]
        shown = layer.data[layer.data_level] if layer.multiscale else layer.data
        out["shown_shape"] = [int(v) for v in shown.shape]
        return out
    elif mode in ("seg_numpy", "seg_ours"):
        if mode == "seg_numpy":
            from mlarray import MLArray

            viewer.add_labels(MLArray.open(path)[...])
        else:
            viewer.open(path, plugin="mlarray")
        frame()
        t0 = time.perf_counter()
        viewer.dims.ndisplay = 3
    else:
        raise ValueError(mode)
    frame()
    out["s"] = time.perf_counter() - t0
    return out


def floor_shape(kind: str, shown: list) -> str:
    """The in-memory array napari's floor is measured with: the CT's shown 1024² plane in a stack
    of 160 planes (as in :func:`napari_floor`), the slide's shown level as it is."""
    dims = [160, *shown[-2:]] if kind == "ct" else shown
    return "x".join(str(v) for v in dims)


def import_profile(path: Path, top: int = 6) -> list:
    """What opening the first file imports (``python -X importtime`` around the reader on ``path``),
    the largest top-level imports first; napari is imported beforehand, as in a napari session."""
    code = ("import sys, napari, napari.components.viewer_model, napari._qt.qt_main_window; "
            "from napari_mlarray.hooks._reader import read_mla; "
            "print('START', file=sys.stderr, flush=True); read_mla(sys.argv[1])")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code, str(path)], capture_output=True, text=True)
    rows, started = [], False
    for line in proc.stderr.splitlines():
        started = started or line.startswith("START")
        parts = line.split("|")
        if started and len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            rows.append((int(parts[1]), parts[2].strip()))  # a top-level import (one space of indent)
    rows.sort(reverse=True)
    total = sum(us for us, _ in rows)
    return [{"module": "(all)", "s": total / 1e6}] + [{"module": n, "s": us / 1e6} for us, n in rows[:top]]


def _run_child(mode: str, path: Path, shape: str = "") -> dict:
    proc = subprocess.run([sys.executable, __file__, "--fresh-child", mode, str(path), shape], capture_output=True,
                          text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{mode}: {proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def fresh_rounds(modes: tuple, path: Path, rounds: int, shape: str = "") -> dict:
    """Alternate the modes over ``rounds`` rounds of fresh processes; medians per mode."""
    import numpy as np

    times: dict = {m: [] for m in modes}
    for r in range(rounds):
        for m in modes:
            times[m].append(_run_child(m, path, shape)["s"])
            _log(f"  round {r + 1} {m}: {times[m][-1]:.3f} s")
    return {m: {"median_s": float(np.median(v)), "all_s": v} for m, v in times.items()}


# --------------------------------------------------------------------------- driver

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="/tmp/mlarray_bench")
    ap.add_argument("--only", choices=["ct", "slide"], action="append")
    ap.add_argument("--fresh", type=int, metavar="ROUNDS", help="first frame in fresh processes, floor vs ours")
    ap.add_argument("--seg3d", type=int, metavar="ROUNDS", help="3D toggle of a paintable segmentation")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "KIND"), help=argparse.SUPPRESS)
    ap.add_argument("--fresh-child", nargs=3, metavar=("MODE", "PATH", "SHAPE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(measure(*args.child)), flush=True)
        return 0
    if args.fresh_child:
        print("RESULT " + json.dumps(fresh_child(*args.fresh_child)), flush=True)
        return 0
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    if args.fresh or args.seg3d:
        return _fresh_main(args, cache)
    datasets = {"ct": (cache / "ct_1024.mla", make_ct), "slide": (cache / "slide_40000.mla", make_slide)}
    results = []
    for kind in args.only or ["ct", "slide"]:
        path, make = datasets[kind]
        if not path.exists():
            _log(f"generating {path} ...")
            t0 = time.perf_counter()
            make(path)
            _log(f"  done in {time.perf_counter() - t0:.0f} s ({path.stat().st_size / 2**20:.0f} MiB)")
        proc = subprocess.run([sys.executable, __file__, "--child", str(path), kind], capture_output=True,
                              text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(f"{kind}: measurement failed (exit {proc.returncode})\n{proc.stderr[-3000:]}")
            results.append({"dataset": kind, "failed": True})
            continue
        results.append(json.loads(line[len("RESULT "):]))
    for r in results:
        if r.get("failed"):
            continue
        print(f"\n== {r['dataset']}  levels {r['levels']}")
        fl = r["napari_floor"]
        print(f"  first frame      {r['first_frame_s']:.3f} s first file of the session (imports mlarray + Blosc2), "
              f"{r['first_frame_again_s']:.3f} s later files   (target <= 0.3 s)   level {r['level_first_frame']}")
        print(f"  napari floor     in-memory numpy, same viewer actions: first frame {fl['first_frame_s']:.3f} s"
              + (f", scroll {fl['scroll_ms']:.1f} ms" if 'scroll_ms' in fl else "")
              + f", pan {fl['pan_ms']:.1f} ms"
              + (f", 3D toggle (256^3) {fl['toggle_3d_s']:.3f} s" if 'toggle_3d_s' in fl else ""))
        print(f"  (napari's one-time first-layer warm-up before that: {r['napari_first_layer_warmup_s']:.3f} s)")
        print(f"  RSS growth       {r['rss_growth_mb']:+.0f} MB   (target <= +100 MB)")
        if "scroll_ms_median" in r:
            print(f"  scroll           {r['scroll_ms_median']:.1f} ms median, {r['scroll_ms_max']:.1f} ms max "
                  "(target <= 50 ms)")
        print(f"  pan (zoomed)     {r['pan_ms_median']:.1f} ms median, {r['pan_ms_max']:.1f} ms max "
              f"(target <= 50 ms)   level {r['level_zoomed']}; RSS {r['rss_after_pan_mb']:+.0f} MB")
        if "toggle_3d_s" in r:
            print(f"  3D toggle        {r['toggle_3d_s']:.3f} s   (target <= 1 s)   level {r['level_3d']} "
                  f"{r['level_3d_shape']}; RSS {r['rss_after_3d_mb']:+.0f} MB; back to 2D "
                  f"{r['toggle_back_2d_s']:.3f} s")
    print(json.dumps(results))
    return 0


def _fresh_main(args, cache: Path) -> int:
    out = {}
    if args.fresh:
        out["import_profile"] = import_profile(cache / "ct_1024.mla")
        print("imports of the first file (python -X importtime, httpx deferred): "
              + ", ".join(f"{r['module']} {r['s']:.3f} s" for r in out["import_profile"]))
        slide = cache / "slide_40000.mla"
        datasets = {"ct": (cache / "ct_1024.mla", make_ct, "1024^3 int16 CT"),
                    "slide": (slide, make_slide, "40000^2 uint8 slide") if slide.exists() else
                    (cache / "slide_40000_tiled.mla", make_slide_tiled, "40000^2 uint8 slide (one tile repeated)")}
        for kind in args.only or ["ct", "slide"]:
            path, make, what = datasets[kind]
            if not path.exists():
                _log(f"generating {path} ...")
                make(path)
            shown = _run_child("ours", path)["shown_shape"]  # also warms the page cache for both modes
            r = fresh_rounds(("floor", "ours"), path, args.fresh, floor_shape(kind, shown))
            floor, ours = r["floor"]["median_s"], r["ours"]["median_s"]
            print(f"first frame, fresh napari, {what} (shows {shown}; medians of {args.fresh} alternating "
                  f"rounds): napari floor {floor:.3f} s, mlarray {ours:.3f} s, overhead above the floor "
                  f"{ours - floor:.3f} s")
            out[f"first_frame_{kind}"] = {**r, "shown_shape": shown}
    if args.seg3d:
        path = cache / "seg_512x512x400.mla"
        if not path.exists():
            make_seg(path)
        r = fresh_rounds(("seg_numpy", "seg_ours"), path, args.seg3d)
        print(f"3D toggle, paintable 512x512x400 segmentation (medians of {args.seg3d} alternating rounds): "
              f"full level as napari gets it from numpy {r['seg_numpy']['median_s']:.3f} s, "
              f"mlarray (pyramid level in 3D) {r['seg_ours']['median_s']:.3f} s")
        out["seg3d"] = r
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
