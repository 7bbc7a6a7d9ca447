"""Make the README pictures from a real napari window.

Run under a display (Xvfb is fine; Qt's offscreen platform cannot render image layers)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--size 384]

Writes into ``docs/images/``:

* ``napari_2d.png``       — CT phantom, segmentation and boxes in the axial (radiological) view,
  with the plugin's A/P, R/L orientation markers on the canvas edges
* ``napari_sagittal.png`` — the same files rolled to a sagittal reformat: kept upright (superior
  at the top, anterior on the left) with S/I, A/P markers
* ``napari_3d.png``       — the same in 3D (volume rendering, labels, box wireframes)
* ``napari_channels.png`` — a three-channel fluorescence-like z-stack (µm) whose channels span 0–1,
  0–300 and 0–50000, each shown with its own stored contrast limits, as it opens
* ``napari_widget.png``   — the whole window with the "MLArray metadata" widget docked
* ``napari_widget_classes.png`` — the widget's class table for the segmentation

No slider is moved before a picture: each shows what a user gets. Look at every picture before
committing it.
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

    # -- 2D: the first frame exactly as the files open (no slider moved): the middle axial slice
    viewer.layers.selection.active = img
    settle()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    _save(shot, args.out / "napari_2d.png", 900)  # axial, with A/P and R/L markers

    # -- widget docked, on the first frame (napari 0.9.2 leaves the S/I point between two slices after a
    # roll and back, where the boxes' per-slice rectangles are not drawn)
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
    dock.close()
    viewer.layers.selection.active = img
    settle()

    # -- sagittal reformat (napari's roll button) at the slice napari picks: upright, with markers
    viewer.dims.roll()
    viewer.reset_view()
    camera = (viewer.scene if hasattr(viewer, "scene") else viewer).camera  # napari 0.9 moved it
    camera.zoom *= 0.9  # keep the S/I markers off the anatomy
    settle()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    _save(shot, args.out / "napari_sagittal.png", 900)
    viewer.dims.order = (0, 1, 2)  # back to axial

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

    # -- channels with unrelated ranges, each with its own contrast limits
    viewer.layers.clear()
    viewer.open(str(_channel_file(work)), plugin=PLUGIN_NAME)  # opens at its middle plane, fitted
    settle(20)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    _save(shot, args.out / "napari_channels.png", 900)
    viewer.close()
    return 0


def _channel_file(work: Path) -> Path:
    """A fluorescence-like z-stack in micrometres (ZCYX): nuclei (0..50000), a membrane stain (0..300),
    a 0..1 probability; it opens at its middle plane."""
    from mlarray import Meta, MLArray

    rng = np.random.default_rng(7)
    d, h, w = 9, 360, 480
    zz, yy, xx = np.mgrid[:d, :h, :w].astype(np.float32)
    zz *= 1.5 / 0.65  # planes 1.5 µm apart, pixels 0.65 µm
    nuclei = np.zeros((d, h, w), np.float32)
    membrane = np.zeros((d, h, w), np.float32)
    centres = rng.uniform([d * 0.3, 20, 20], [d * 0.7, h - 20, w - 20], size=(60, 3)) * [1.5 / 0.65, 1, 1]
    for cz, cy, cx in centres:
        r2 = (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2
        nuclei = np.maximum(nuclei, 50000 * np.exp(-r2 / (2 * 7.0 ** 2)))
        membrane = np.maximum(membrane, 300 * np.exp(-((np.sqrt(r2) - 16) ** 2) / (2 * 2.0 ** 2)))
    probability = (nuclei > 20000).astype(np.float32) * 0.9 + 0.05
    arr = np.stack([nuclei, membrane, probability], axis=1) + rng.normal(0, 1, (d, 3, h, w)).astype(
        np.float32) * [[[200.0]], [[3.0]], [[0.01]]]
    path = work / "cells.mla"
    MLArray(arr.astype(np.float32), spacing=[1.5, 0.65, 0.65],
            axis_labels=["spatial_z", "channel", "spatial_y", "spatial_x"],
            meta=Meta(spatial={"axis_units": ["µm", "µm", "µm"]},
                      extra={"channel_names": ["DAPI", "membrane", "nucleus probability"]})).save(path)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
