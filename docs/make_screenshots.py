"""Make the README pictures from a real napari window.

Run under a display (Xvfb is fine; Qt's offscreen platform cannot render image layers)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--size 384]

Writes into ``docs/images/``:

* ``napari_2d.png``     — CT phantom, segmentation and boxes in the 2D (radiological) view
* ``napari_3d.png``     — the same in 3D (volume rendering, labels, box wireframes)
* ``napari_widget.png`` — the whole window with the "MLArray metadata" widget docked
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
        for _ in range(n):
            app.processEvents()

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
    _save(shot, args.out / "napari_2d.png", 900)

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
    viewer.camera.angles = (0, 30, 60)
    viewer.camera.zoom *= 1.1
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
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
