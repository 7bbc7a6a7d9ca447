"""Orthogonal views benchmark: turning the three linked views on, scrolling in each, RSS growth.

Data: a 1024³ int16 CT-like phantom (``mlarray.samples.ct_phantom_slab``, LPS, 0.7 mm voxels) written
as ``.mla`` with its pyramid, generated streaming on first run and cached under ``--cache``;
``--scale 0.5`` makes it 512³ (spacing 1.4 mm, the same anatomy). Measured in a fresh process with
a real, shown napari window (1200x900, as ``benchmarks/napari_open.py``); run under Xvfb::

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/napari_ortho.py --scale 0.5

Against napari's own floor in the same run: three extra ``ViewerModel`` + ``QtViewer`` canvases in
a dock, one per plane, each showing the same volume as an in-memory numpy array (napari + OpenGL
alone, no reader, no linking). Rounds alternate (floor, plugin, ...) and medians are printed.

* **views on**: ``orthogonal_views(viewer)`` until all three canvases have drawn (processEvents +
  a synchronous repaint of each canvas), vs building the floor's three canvases and drawing them;
* **scroll**: one slice per step with the view's own slider (the plugin links the main viewer and
  the other views) vs ``set_current_step`` on the floor's view; a step ends when Qt's event loop
  has painted every canvas whose content it changed (processEvents; an event filter counts the
  canvases painted, printed beside the times: the scrolled view, the views whose crosshair moved,
  the main canvas when its slice moved; the floor: its one view); median ms per step over
  ``--steps`` steps, per plane;
* **RSS**: growth from before the views are turned on to after scrolling all three, first round
  of each (the plugin's before the floor's in-memory volume exists; the floor's excludes it).

Goals (issue 26): views on <= 1.5x the floor, <= 50 ms per scroll step, RSS <= +150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# shared with the napari open benchmark (this folder is on sys.path when a benchmark runs as a script)
from napari_open import _log, _rss_mb, make_ct

FULL = 1024
PLANES = ("axial", "coronal", "sagittal")


def _draw(app, canvases) -> None:
    """Every canvas drawn: Qt's pending paints, then a synchronous repaint of each (the frame is on screen)."""
    app.processEvents()
    for c in canvases:
        c.repaint()  # synchronous paintGL
    app.processEvents()


def _frame(app, canvases, watch) -> int:
    """One frame of a step as the user gets it: Qt's event loop paints (and puts on screen) every canvas whose
    content the step changed, once. Returns how many canvases it painted."""
    watch.painted.clear()
    app.processEvents()
    return sum(c in watch.painted for c in canvases)


def _paint_watch(canvases):
    """An event filter on ``canvases`` recording which of them Qt paints (public Qt API: QObject.eventFilter)."""
    from qtpy.QtCore import QEvent, QObject

    class Watch(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.painted: list = []

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint and obj not in self.painted:
                self.painted.append(obj)
            return False

    watch = Watch()
    for c in canvases:
        c.installEventFilter(watch)
    return watch


def _median_ms(times: list) -> float:
    import numpy as np

    return 1000 * float(np.median(times))


def _plugin_round(viewer, app, steps: int) -> dict:
    from napari_mlarray import orthogonal_views

    main = viewer.window._qt_viewer.canvas.native
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    ortho = orthogonal_views(viewer)
    canvases = [main, *(qt.canvas.native for qt in ortho._qt.values())]
    _draw(app, canvases)
    on = time.perf_counter() - t0
    watch = _paint_watch(canvases)
    scroll, drawn = {}, {}
    for plane in PLANES:
        slider = ortho.sliders[plane]
        times, counts = [], []
        for _ in range(steps):
            t = time.perf_counter()
            slider.setValue(slider.value() + 1)
            counts.append(_frame(app, canvases, watch))
            times.append(time.perf_counter() - t)
        scroll[plane], drawn[plane] = _median_ms(times), max(counts)
    for c in canvases:
        c.removeEventFilter(watch)
    rss = _rss_mb() - rss0
    orthogonal_views(viewer, enabled=False)
    _draw(app, [main])
    return {"on_s": on, "scroll_ms": scroll, "rss_mb": rss, "canvases": drawn}


def _floor_round(viewer, app, volume, layer, steps: int) -> dict:
    """napari alone: three canvases in a dock showing the in-memory volume, one plane each."""
    from napari.components import ViewerModel
    from napari.qt import QtViewer
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QSplitter

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    models = {p: ViewerModel(title=p) for p in PLANES}
    qts = {p: QtViewer(m, show_welcome_screen=False) for p, m in models.items()}
    split = QSplitter(Qt.Orientation.Vertical)
    for p in PLANES:
        split.addWidget(qts[p])
    dock = viewer.window.add_dock_widget(split, name="floor", area="right")
    for k, (p, m) in enumerate(models.items()):
        m.add_image(volume, scale=layer.scale, translate=layer.translate, contrast_limits=layer.contrast_limits)
        normal = k  # world axes (S, P, L): axial ⟂ S, coronal ⟂ P, sagittal ⟂ L
        m.dims.order = tuple([normal] + [a for a in range(3) if a != normal])
        m.dims.point = viewer.dims.point
        m.reset_view()
    canvases = [q.canvas.native for q in qts.values()]
    _draw(app, canvases)
    on = time.perf_counter() - t0
    watch = _paint_watch(canvases)
    scroll, drawn = {}, {}
    for k, (p, m) in enumerate(models.items()):
        times, counts = [], []
        for _ in range(steps):
            t = time.perf_counter()
            m.dims.set_current_step(k, m.dims.current_step[k] + 1)
            counts.append(_frame(app, canvases, watch))
            times.append(time.perf_counter() - t)
        scroll[p], drawn[p] = _median_ms(times), max(counts)
    rss = _rss_mb() - rss0
    viewer.window.remove_dock_widget(dock)
    for m in models.values():
        m.layers.clear()
    for q in qts.values():
        q.close()
        q.deleteLater()
    app.processEvents()
    return {"on_s": on, "scroll_ms": scroll, "rss_mb": rss, "canvases": drawn}


def measure(path: str, rounds: int, steps: int) -> dict:
    import gc

    import napari
    import numpy as np
    from qtpy.QtWidgets import QApplication

    from mlarray import MLArray

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1200, 900)
    app = QApplication.instance()
    viewer.open(path, plugin="mlarray")
    main = viewer.window._qt_viewer.canvas.native
    for _ in range(5):
        _draw(app, [main])
    layer = viewer.layers[0]
    gc.collect()
    plugin = [_plugin_round(viewer, app, steps)]  # first: its RSS growth is the views' alone
    volume = np.asarray(MLArray.open(path)[...])  # the floor's in-memory copy (not in either RSS figure)
    floor = []
    for _ in range(rounds):
        floor.append(_floor_round(viewer, app, volume, layer, steps))
        if len(plugin) < rounds:
            plugin.append(_plugin_round(viewer, app, steps))

    def med(results: list) -> dict:
        return {"on_s": float(np.median([r["on_s"] for r in results])),
                "scroll_ms": {p: float(np.median([r["scroll_ms"][p] for r in results])) for p in PLANES},
                "canvases": {p: max(r["canvases"][p] for r in results) for p in PLANES}}

    viewer.close()
    return {"plugin": med(plugin), "floor": med(floor), "rss_growth_mb": plugin[0]["rss_mb"],
            "floor_rss_growth_mb": floor[0]["rss_mb"], "rounds": rounds, "steps": steps, "shape": list(volume.shape)}


# --------------------------------------------------------------------------- driver

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="edge length as a fraction of 1024 (0.5: 512³)")
    ap.add_argument("--cache", default="/tmp/mlarray_bench", help="where the phantom is written once")
    ap.add_argument("--rounds", type=int, default=3, help="alternating floor/plugin rounds (medians)")
    ap.add_argument("--steps", type=int, default=20, help="slider steps per plane and round")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.rounds, args.steps)))
        return 0
    n = int(round(FULL * args.scale))
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"ct_ortho_{n}.mla"
    if not path.exists():
        _log(f"writing {path} ({n}³ int16)")
        make_ct(path, n)
    load = os.getloadavg()
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--rounds", str(args.rounds),
                          "--steps", str(args.steps)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        _log(out.stderr[-4000:])
        return out.returncode
    res = json.loads(out.stdout.strip().splitlines()[-1])
    p, f = res["plugin"], res["floor"]
    print(f"orthogonal views on a {n}³ int16 CT ({path.name}); load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; medians of {res['rounds']} rounds, {res['steps']} steps per plane")
    print(f"{'':24s}{'plugin':>10s}{'napari floor':>14s}{'ratio':>8s}{'goal':>12s}")
    print(f"{'views on (s)':24s}{p['on_s']:10.2f}{f['on_s']:14.2f}{p['on_s'] / f['on_s']:8.2f}{'<= 1.5x':>12s}")
    for plane in PLANES:
        a, b = p["scroll_ms"][plane], f["scroll_ms"][plane]
        print(f"{'scroll ' + plane + ' (ms/step)':24s}{a:10.1f}{b:14.1f}{a / b:8.2f}{'<= 50 ms':>12s}"
              f"   canvases drawn per step: {p['canvases'][plane]} / {f['canvases'][plane]}")
    rr, fr = res["rss_growth_mb"], res["floor_rss_growth_mb"]
    print(f"{'RSS growth (MB)':24s}{rr:10.0f}{fr:14.0f}{rr / fr if fr > 0 else float('nan'):8.2f}{'<= +150 MB':>12s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
