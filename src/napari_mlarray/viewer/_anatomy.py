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
* writes the direction letters (A/P, R/L, S/I) at the middle of the four edges of each canvas that
  shows the viewer (:mod:`._letters`; the main canvas, and each orthogonal view's).

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

from ._letters import EDGES, EdgeLetters
from ._open import qt_viewer_of

__all__ = ["MARKER_POSITIONS", "attach_anatomy", "set_upright_views", "shown_letters", "show_letters_on",
           "upright_plan"]

_ARROW = re.compile(r"^\s*([RLAPSI])\s*→\s*([RLAPSI])\s*$")
_VERTICAL_RANK = {2: 0, 1: 1, 0: 2}  # which axis class goes vertical: S/I, then A/P, then R/L
MARKER_POSITIONS = EDGES

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


# The markers' vispy text visuals cost about as much as the rest of opening a file; they are first
# made this long after the view is set up, so the first frame does not wait for them.
FIRST_MARKERS_DELAY_MS = 150


class _Anatomy:
    """Keeps one viewer's anatomical 2D view upright and its markers current."""

    def __init__(self, viewer) -> None:
        self._ref = weakref.ref(viewer)
        self._oriented = False  # whether this controller changed the camera orientation
        self._made = False  # whether the letters are shown yet (their first draw is deferred)
        self._scheduled = False
        self._held = False  # the first markers wait for hold_markers' release
        self._letters: Optional[dict] = None  # {edge: letter} while shown
        # the canvases showing this viewer, and their letters' visuals once made
        self._canvases: list[tuple[weakref.ref, Optional[EdgeLetters]]] = []
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
            self._markers(None)
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
            self._markers(plan["markers"])
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

    def show_on(self, qt_viewer) -> None:
        """Draw the letters on ``qt_viewer``'s canvas too (a canvas showing this viewer)."""
        if any(ref() is qt_viewer for ref, _ in self._canvases):
            return
        self._canvases.append((weakref.ref(qt_viewer), None))
        self._markers(self._letters)

    def _markers(self, letters: Optional[dict]) -> None:
        self._letters = dict(letters) if letters else None
        kept = []
        for ref, drawn in self._canvases:
            qt_viewer = ref()
            if qt_viewer is None:
                continue
            if drawn is None and self._letters is not None:  # made on first use: their first draw costs
                drawn = EdgeLetters(qt_viewer)
            if drawn is not None:
                drawn.show(self._letters)
            kept.append((ref, drawn))
        self._canvases = kept

    def shown(self) -> dict:
        """``{edge: letter}`` as the first canvas showing this viewer draws them (empty when none)."""
        for ref, drawn in self._canvases:
            if ref() is not None and drawn is not None:
                return {e: letter for e, (letter, _) in drawn.shown().items()}
        return {}

    def drawn(self) -> list:
        """Each canvas's letters visual (``EdgeLetters``) made so far."""
        return [d for ref, d in self._canvases if ref() is not None and d is not None]


def hold_markers(viewer) -> Callable[[], None]:
    """Make ``viewer``'s first markers only when the returned function is called (e.g. once its canvas has
    drawn its first frame: a canvas whose first frame takes longer than :data:`FIRST_MARKERS_DELAY_MS` would
    otherwise make them inside it)."""
    ctl = _controller(viewer)
    ctl.hold()
    ref = weakref.ref(ctl)

    def release() -> None:
        held = ref()
        if held is not None:
            held.release()

    return release


def _controller(viewer) -> _Anatomy:
    ctl = _CONTROLLERS.get(viewer)
    if ctl is None:
        ctl = _CONTROLLERS[viewer] = _Anatomy(viewer)
    return ctl


def attach_anatomy(viewer) -> None:
    """Keep ``viewer``'s anatomical 2D views upright with markers (idempotent); a napari ``Viewer``'s own
    canvas shows them."""
    ctl = _controller(viewer)
    qt_viewer = qt_viewer_of(viewer)
    if qt_viewer is not None:
        ctl.show_on(qt_viewer)
    ctl.update()


def show_letters_on(viewer, qt_viewer) -> None:
    """Draw ``viewer``'s orientation letters on ``qt_viewer``'s canvas (a canvas made for a ``ViewerModel``)."""
    _controller(viewer).show_on(qt_viewer)


def shown_letters(viewer) -> dict:
    """The orientation letters ``viewer``'s canvas draws now, ``{edge: letter}`` (empty when none)."""
    ctl = _CONTROLLERS.get(viewer)
    return {} if ctl is None else ctl.shown()
