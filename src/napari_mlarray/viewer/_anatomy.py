"""Upright anatomical 2D views with orientation markers on the canvas edges.

The layers of an anatomical file carry world axis labels such as ``"I→S"`` (:mod:`..layers._geometry`).
In a 2D view of two such axes, napari draws the first displayed axis downwards and the second to
the right, so a sagittal or coronal reformat (napari's roll/transpose) shows superior at the
bottom, or lies on its side. While a viewer shows two anatomical axes this module

* keeps the view *upright*: the S/I axis vertical (else the A/P axis, as in an axial view) —
  swapping the two displayed axes in ``dims.order`` when napari puts them the other way round —
  with superior (or anterior) at the top, the patient's right on the screen's left and, in a
  sagittal view, anterior on the left (the radiological conventions), set through the camera's
  2D orientation;
* writes the direction letters (A/P, R/L, S/I) at the middle of the four canvas edges (napari
  before 0.9 has no middle-of-edge positions: the side letters go to the top corners there).

Non-anatomical views (time on screen, other coordinate systems, 3D) are left as napari draws them
and the markers hidden. :func:`set_upright_views` turns the behaviour off (napari's own
transposes then stay as the user sets them); ``MLARRAY_NAPARI_UPRIGHT=0`` starts a session so.
"""

from __future__ import annotations

import os
import re
import weakref
from typing import Callable, Optional

from mlarray.affines import BODY_AXIS, OPPOSITE_LETTER

__all__ = ["MARKER_POSITIONS", "attach_anatomy", "set_upright_views", "upright_plan"]

_ARROW = re.compile(r"^\s*([RLAPSI])\s*→\s*([RLAPSI])\s*$")
_VERTICAL_RANK = {2: 0, 1: 1, 0: 2}  # which axis class goes vertical: S/I, then A/P, then R/L
MARKER_POSITIONS = ("top_center", "bottom_center", "middle_left", "middle_right")
_KEY = "mlarray_orientation_"
_MARKER_STYLE = {"font_size": 14, "color": (1.0, 0.82, 0.35, 1.0)}

_enabled = [os.environ.get("MLARRAY_NAPARI_UPRIGHT", "1") not in ("0", "false", "no")]
_CONTROLLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def set_upright_views(on: bool) -> bool:
    """Keep anatomical 2D views upright with markers (True, the default) or leave them to napari."""
    previous, _enabled[0] = _enabled[0], bool(on)
    for ctl in list(_CONTROLLERS.values()):
        ctl.update()
    return previous


def _toward(label) -> Optional[str]:
    """The anatomical direction a world axis labelled ``"X→Y"`` increases toward (``Y``), else None."""
    m = _ARROW.match(str(label))
    return m.group(2) if m else None


def upright_plan(order, labels) -> Optional[dict]:
    """How to show the two displayed axes of ``order`` upright, or None when they are not anatomical.

    Returns ``order`` (the dims order to use), ``orientation2d`` (the camera's vertical and
    horizontal directions) and ``markers`` (the letter at each canvas edge).
    """
    order = tuple(int(a) for a in order)
    if len(order) < 2:
        return None
    v, h = order[-2], order[-1]
    tv, th = _toward(labels[v]), _toward(labels[h])
    if tv is None or th is None or BODY_AXIS[tv] == BODY_AXIS[th]:
        return None
    if _VERTICAL_RANK[BODY_AXIS[th]] < _VERTICAL_RANK[BODY_AXIS[tv]]:
        order, (tv, th) = order[:-2] + (h, v), (th, tv)
    vertical = "up" if tv in ("S", "A") else "down"  # superior (or anterior) at the top
    horizontal = "right" if th in ("L", "P") else "left"  # patient's right, or anterior, on the left
    top = tv if vertical == "up" else OPPOSITE_LETTER[tv]
    right = th if horizontal == "right" else OPPOSITE_LETTER[th]
    markers = dict(zip(MARKER_POSITIONS, (top, OPPOSITE_LETTER[top], OPPOSITE_LETTER[right], right)))
    return {"order": order, "orientation2d": (vertical, horizontal), "markers": markers}


def _camera(viewer):
    scene = getattr(viewer, "scene", None)  # napari >= 0.9; viewer.camera before
    return scene.camera if scene is not None else viewer.camera


def _overlays(viewer):
    canvas = getattr(viewer, "canvas", None)  # napari >= 0.9: viewer.canvas.overlays
    return canvas.overlays if canvas is not None and hasattr(canvas, "overlays") else viewer._overlays


# The markers' vispy text visuals cost about as much as the rest of opening a file; they are first
# made this long after the view is set up, so the first frame does not wait for them.
FIRST_MARKERS_DELAY_MS = 150


class _Anatomy:
    """Keeps one viewer's anatomical 2D view upright and its markers current."""

    def __init__(self, viewer) -> None:
        self._ref = weakref.ref(viewer)
        self._oriented = False  # whether this controller changed the camera orientation
        self._made = False  # whether the marker overlays exist
        self._scheduled = False
        self._held = False  # the first markers wait for hold_markers' release
        for name in ("order", "ndisplay", "axis_labels"):
            getattr(viewer.dims.events, name).connect(self._on_dims)

    def _on_dims(self, event=None) -> None:
        self.update()

    def update(self) -> None:
        viewer = self._ref()
        if viewer is None:
            return
        dims = viewer.dims
        plan = upright_plan(dims.order, dims.axis_labels) if _enabled[0] and dims.ndisplay == 2 else None
        if plan is None:
            self._markers(viewer, None)
            if self._oriented and dims.ndisplay == 2:  # a non-anatomical view: napari's default again
                _camera(viewer).orientation2d = ("down", "right")
                self._oriented = False
            return
        if plan["order"] != tuple(dims.order):
            dims.order = plan["order"]  # re-enters update() through the order event
            return
        camera = _camera(viewer)
        if tuple(str(getattr(o, "value", o)) for o in camera.orientation2d) != plan["orientation2d"]:
            camera.orientation2d = plan["orientation2d"]
        self._oriented = True
        if self._made:
            self._markers(viewer, plan["markers"])
        elif not self._scheduled and not self._held:
            self._scheduled = True
            from qtpy.QtCore import QTimer

            QTimer.singleShot(FIRST_MARKERS_DELAY_MS, self._make_markers)

    def hold(self) -> None:
        """The first markers wait for :meth:`release`."""
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._make_markers()

    def _make_markers(self) -> None:
        self._scheduled, self._made = False, True
        self.update()

    @staticmethod
    def _markers(viewer, letters: Optional[dict]) -> None:
        overlays = _overlays(viewer)
        if letters is None:
            for pos in MARKER_POSITIONS:
                if _KEY + pos in overlays:
                    overlays[_KEY + pos].visible = False
            return
        from napari.components.overlays import TextOverlay

        for pos, letter in letters.items():
            key = _KEY + pos
            if key not in overlays:
                overlays[key] = TextOverlay(position=_canvas_position(pos), **_MARKER_STYLE)
            ov = overlays[key]
            ov.text, ov.visible = letter, True


def _canvas_position(pos: str) -> str:
    """``pos``, or for the side markers the top corner on that side where napari (< 0.9) has no
    middle-of-edge positions."""
    from napari.components._viewer_constants import CanvasPosition

    if pos in {p.value for p in CanvasPosition}:
        return pos
    return {"middle_left": "top_left", "middle_right": "top_right"}[pos]


def hold_markers(viewer) -> Callable[[], None]:
    """Make ``viewer``'s first markers only when the returned function is called (e.g. once its canvas has
    drawn its first frame: a canvas whose first frame takes longer than :data:`FIRST_MARKERS_DELAY_MS` would
    otherwise make them inside it)."""
    ctl = _CONTROLLERS.get(viewer)
    if ctl is None:
        ctl = _CONTROLLERS[viewer] = _Anatomy(viewer)
    ctl.hold()
    ref = weakref.ref(ctl)

    def release() -> None:
        held = ref()
        if held is not None:
            held.release()

    return release


def attach_anatomy(viewer) -> None:
    """Keep ``viewer``'s anatomical 2D views upright with markers (idempotent)."""
    ctl = _CONTROLLERS.get(viewer)
    if ctl is None:
        ctl = _CONTROLLERS[viewer] = _Anatomy(viewer)
    ctl.update()
