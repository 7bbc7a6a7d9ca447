"""Make the README pictures from a real napari window.

Run under a display (Xvfb is fine; Qt's offscreen platform cannot render image layers)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--size 384]

Writes into ``docs/images/``:

* ``napari_2d.png``       — CT phantom, segmentation and boxes in the axial (radiological) view,
  with the plugin's A/P, R/L orientation markers on the canvas edges
* ``napari_sagittal.png`` — the same files rolled to a sagittal reformat: kept upright (superior
  at the top, anterior on the left) with S/I, A/P markers
* ``napari_3d.png``       — the same in 3D (volume rendering, labels, box wireframes)
* ``napari_channels.png`` — a three-channel fluorescence-like image whose channels span 0–1,
  0–300 and 0–50000, each shown with its own stored contrast limits
* ``napari_widget.png``   — the whole window with the "MLArray metadata" widget docked
* ``napari_widget_classes.png`` — the widget's class table for the segmentation

Look at every picture before committing it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "images"


def _save(img: np.ndarray, path: Path, max_width: int) -> None:
    """Save an RGBA screenshot as a palette PNG (small files) no wider than ``max_width``."""
    from PIL import Image

    im = Image.fromarray(np.asarray(img)[..., :3])
    if im.width > max_width:
        im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
    im = im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    im.save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {im.width}x{im.height})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=384, help="phantom edge length (default 384)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    import napari

    from mlarray.demo import PLUGIN_NAME, write_sample_files

    work = Path(tempfile.mkdtemp(prefix="mlarray-shots-"))
    paths = write_sample_files(work, args.size)
    viewer = napari.Viewer(title="MLArray", show=True)
    viewer.window._qt_window.resize(1500, 900)
    layers = viewer.open([paths["image"], paths["labels"]], plugin=PLUGIN_NAME, stack=False)
    img = next(ly for ly in layers if type(ly).__name__.lower() == "image")
    lab = next(ly for ly in layers if type(ly).__name__.lower() == "labels")
    boxes = next(ly for ly in layers if type(ly).__name__.lower() == "shapes")
    img.contrast_limits = (-200, 300)  # soft-tissue window
    lab.opacity = 0.45
    boxes.edge_width = 2.0
    boxes.text.size = 11

    app = napari.qt.get_qapp()

    def settle(n: int = 10) -> None:
        import time

        for _ in range(n):
            app.processEvents()
            time.sleep(0.03)  # the orientation markers appear shortly after the view

    # -- 2D: an axial slice through liver, kidneys and spine
    viewer.dims.ndisplay = 2
    z_world = img.data_to_world([0.30 * (img.level_shapes[0][0] - 1), 0, 0])[0] if img.multiscale else None
    kid = [b for b in zip(boxes.features["label"], boxes.features["box_id"]) if b[0] == "kidney"]
    if kid:
        ids = boxes.features["box_id"].to_numpy()
        rows = np.flatnonzero(ids == kid[0][1])
        mid = rows[len(rows) // 2]
        z_world = boxes.data_to_world(boxes.data[mid][0])[0]
    if z_world is not None:
        viewer.dims.set_point(0, z_world)
    viewer.layers.selection.active = img
    viewer.reset_view()
    settle()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    _save(shot, args.out / "napari_2d.png", 900)  # axial, with A/P and R/L markers

    # -- sagittal reformat (napari's roll button): upright, with orientation markers
    viewer.dims.roll()
    kidney_x = None
    if kid:
        kidney_x = boxes.data_to_world(np.asarray(boxes.data[mid]).mean(axis=0))[2]  # through its centre
    if kidney_x is not None:
        viewer.dims.set_point(2, kidney_x)
    viewer.reset_view()
    camera = (viewer.scene if hasattr(viewer, "scene") else viewer).camera  # napari 0.9 moved it
    camera.zoom *= 0.9  # keep the S/I markers off the anatomy
    settle()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    _save(shot, args.out / "napari_sagittal.png", 900)
    viewer.dims.order = (0, 1, 2)  # back to axial
    if z_world is not None:
        viewer.dims.set_point(0, z_world)

    # -- 3D: CT as a maximum intensity projection (bone), organs as translucent labels, box wireframes
    viewer.dims.ndisplay = 3
    img.rendering = "attenuated_mip"
    img.attenuation = 0.3
    img.contrast_limits = (-1000, 1400)
    lab.opacity = 0.8
    lab.blending = "translucent"
    boxes.text.visible = False
    boxes.edge_width = 1.5  # the boxes layer now holds one 12-edge wireframe per box
    boxes.opacity = 0.9
    viewer.reset_view()
    camera.angles = (0, 30, 60)
    camera.zoom *= 1.1
    settle(20)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    _save(shot, args.out / "napari_3d.png", 900)
    boxes.text.visible = True
    boxes.edge_width = 2.0
    boxes.opacity = 1.0
    lab.blending = "translucent"

    # -- widget docked (2D view, labels selected to show the class table? show the CT's spatial tab)
    viewer.dims.ndisplay = 2
    img.contrast_limits = (-200, 300)
    lab.opacity = 0.45
    viewer.reset_view()
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN_NAME, "MLArray metadata")
    dock.setMinimumWidth(430)
    viewer.layers.selection.active = img
    settle(20)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    _save(shot, args.out / "napari_widget.png", 1200)

    viewer.layers.selection.active = lab
    widget.tabs.setCurrentIndex(2)  # Classes
    settle(20)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    _save(shot, args.out / "napari_widget_classes.png", 1200)

    # -- channels with unrelated ranges, each with its own contrast limits
    dock.close()
    viewer.layers.clear()
    viewer.open(str(_channel_file(work)), plugin=PLUGIN_NAME)
    viewer.reset_view()
    settle(20)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    _save(shot, args.out / "napari_channels.png", 900)
    viewer.close()
    return 0


def _channel_file(work: Path) -> Path:
    """A fluorescence-like 2D image: nuclei (0..50000), a membrane stain (0..300), a 0..1 probability."""
    from mlarray import Meta, MLArray

    rng = np.random.default_rng(7)
    h, w = 360, 480
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    nuclei = np.zeros((h, w), np.float32)
    membrane = np.zeros((h, w), np.float32)
    centres = rng.uniform([20, 20], [h - 20, w - 20], size=(60, 2))
    for cy, cx in centres:
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        nuclei = np.maximum(nuclei, 50000 * np.exp(-r2 / (2 * 7.0 ** 2)))
        membrane = np.maximum(membrane, 300 * np.exp(-((np.sqrt(r2) - 16) ** 2) / (2 * 2.0 ** 2)))
    probability = (nuclei > 20000).astype(np.float32) * 0.9 + 0.05
    arr = np.stack([nuclei, membrane, probability]) + rng.normal(0, 1, (3, h, w)).astype(np.float32) * [
        [[200.0]], [[3.0]], [[0.01]]]
    path = work / "cells.mla"
    MLArray(arr.astype(np.float32), spacing=[0.00065, 0.00065], axis_labels=["channel", "spatial_y", "spatial_x"],
            meta=Meta(extra={"channel_names": ["DAPI", "membrane", "nucleus probability"]})).save(path)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
