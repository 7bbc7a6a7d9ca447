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
* ``napari_four_up.png``  — the phantom with the linked axial/coronal/sagittal views (crosshair),
  a soft-tissue window preset and a measurement (a line in mm, an ellipse with its mean HU)
* ``napari_real_ct.png``  — pydicom-data's enhanced CT (``eCT_Supplemental.dcm``) converted with
  ``mlarray convert``, as it opens: in the window its header asks for (Frame VOI LUT), with measurements
  (two frames only: a single canvas; no multi-slice CT volume ships in a package on PyPI that we know of)
* ``napari_real_mr_four_up.png`` — a real MR volume shipped in a package (nilearn's MNI152 T1 template,
  ``pip install nilearn``) converted with ``mlarray convert``, with the linked views and a measurement

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

    _four_up(paths, args.out, settle_factory=lambda app: settle)
    _real_ct(work, args.out, settle)
    _real_mr_four_up(work, args.out, settle)
    return 0


def _measure_on(viewer, image, line, ellipse=None):
    """A measurement layer with one line and (optionally) one ellipse, given in the image's voxel indices."""
    from napari_mlarray import measure

    m = measure(viewer, image)
    m.add_lines(np.asarray(line, dtype=float))
    if ellipse is not None:
        m.add_ellipses(np.asarray(ellipse, dtype=float))
    m.text.size = 12
    m.mode = "pan_zoom"
    return m


def _four_up(paths, out: Path, settle_factory) -> None:
    import napari

    from mlarray.demo import PLUGIN_NAME
    from napari_mlarray import window

    viewer = napari.Viewer(title="MLArray: orthogonal views", show=True)
    viewer.window._qt_window.resize(1600, 1000)
    settle = settle_factory(napari.qt.get_qapp())
    layers = viewer.open([paths["image"], paths["labels"]], plugin=PLUGIN_NAME, stack=False)
    img = next(ly for ly in layers if type(ly).__name__.lower() == "image")
    lab = next(ly for ly in layers if type(ly).__name__.lower() == "labels")
    lab.opacity = 0.35
    window(img, "soft tissue")
    data = img.data[0] if img.multiscale else img.data
    z = int(round(float(img.world_to_data(viewer.dims.point)[0])))  # the slice on screen
    y, x = data.shape[1] // 2, data.shape[2] // 2
    _measure_on(viewer, img, [[z, y - y // 3, x - x // 3], [z, y + y // 4, x + x // 5]],
                [[z, y - 20, x + 30], [z, y - 20, x + 80], [z, y + 20, x + 80], [z, y + 20, x + 30]])
    _shoot_four_up(viewer, img, out / "napari_four_up.png", settle)


def _real_ct(work: Path, out: Path, settle) -> None:
    import napari
    from pydicom.data import get_testdata_file

    from mlarray.cli import main as mlarray_cli
    from mlarray.demo import PLUGIN_NAME
    src = get_testdata_file("eCT_Supplemental.dcm")
    if src is None:  # pydicom-data not installed
        print("skipped napari_real_ct.png: pydicom-data is not installed")
        return
    dst = work / "eCT.mla"
    mlarray_cli(["convert", "-q", src, str(dst)])
    viewer = napari.Viewer(title="MLArray: enhanced CT", show=True)
    viewer.window._qt_window.resize(1100, 900)
    img = viewer.open(str(dst), plugin=PLUGIN_NAME)[0]  # opens in the header's window (a brain window)
    data = img.data[0] if img.multiscale else img.data
    z = int(round(float(img.world_to_data(viewer.dims.point)[0])))  # the slice on screen
    y, x = data.shape[1] // 2, data.shape[2] // 2
    _measure_on(viewer, img, [[z, y - 120, x - 150], [z, y - 120, x + 150]],
                [[z, y + 20, x - 40], [z, y + 20, x + 40], [z, y + 90, x + 40], [z, y + 90, x - 40]])
    viewer.layers.selection.active = img
    settle(20)
    _save(viewer.screenshot(canvas_only=True, flash=False), out / "napari_real_ct.png", 900)
    viewer.close()


def _real_mr_four_up(work: Path, out: Path, settle) -> None:
    import importlib.util
    import os

    import napari

    from mlarray.cli import main as mlarray_cli
    from mlarray.demo import PLUGIN_NAME

    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        print("skipped napari_real_mr_four_up.png: nilearn is not installed")
        return
    template = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    src = os.path.join(os.path.dirname(spec.origin), "datasets", "data", template)
    dst = work / "mni152_t1.mla"
    mlarray_cli(["convert", "-q", src, str(dst)])
    viewer = napari.Viewer(title="MLArray: a real MR (MNI152 T1)", show=True)
    viewer.window._qt_window.resize(1600, 1000)
    img = viewer.open(str(dst), plugin=PLUGIN_NAME)[0]  # percentile window from the stored statistics
    data = img.data[0] if img.multiscale else img.data
    point = np.round(img.world_to_data(viewer.dims.point)).astype(int)  # the voxel on screen
    line = np.array([point, point], dtype=float)
    line[0, -1] -= data.shape[-1] // 4  # a line across the brain along the last array axis
    line[1, -1] += data.shape[-1] // 4
    line[:, -2] += data.shape[-2] // 6  # off the crosshair, which crosses at the point on screen
    _measure_on(viewer, img, line)
    _shoot_four_up(viewer, img, out / "napari_real_mr_four_up.png", settle)


def _shoot_four_up(viewer, image, path: Path, settle) -> None:
    """The whole window once the linked views are on beside ``image``, then the viewer closed."""
    from napari_mlarray import orthogonal_views

    viewer.layers.selection.active = image
    ortho = orthogonal_views(viewer, enabled=True)
    settle(30)
    _save(viewer.screenshot(canvas_only=False, flash=False), path, 1400)
    ortho.close()
    viewer.close()


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
