"""Linked axial, coronal and sagittal views beside napari's canvas (3D Slicer's four-up layout).

napari has one canvas per viewer and no public multi-canvas API yet (napari issue 662; design
NAP-9). The package napari-orthogonal-views does this by moving napari's canvas into splitters
through private API, and declares napari >= 0.6.5 (this plugin supports 0.6.0); so the views are
built here from public pieces instead: one ``ViewerModel`` per plane, drawn by napari's public
``QtViewer`` in one dock widget.

* **Layers are shared, not copied:** each view holds a layer made from the main layer's data
  tuple (``Layer.create(*layer.as_layer_data_tuple())``), so the same array objects — lazy
  pyramid levels stay lazy, a painted segmentation is one array — are drawn by every canvas.
  napari keeps one slice per layer object, which is why each canvas needs a layer object of its
  own. Display properties (visibility, contrast, colormap, opacity, selected label, …) follow in
  every direction, and a stroke painted in any view redraws the others.
* **Slices are linked both ways:** every view shows the plane through one point
  (:attr:`OrthogonalViews.point`); a slider (or the wheel: one slice per notch, as in radiology
  viewers) in a view moves it, a click in a view or on the main canvas moves the other views to the
  clicked position, and the main viewer's slider moves it too (the main canvas keeps napari's wheel
  zoom). Time and channel sliders follow the main
  viewer. Zoom and pan are per view. Each canvas is re-sliced only when its own plane moves: napari
  re-reads a layer's slice whenever its viewer's point changes on any axis, so a viewer (a view or
  the main one) is given the point only on the axes it slices along (all of them for an oblique
  grid, whose slice depends on the point within the plane too).
* **Crosshair:** each view, and the main canvas while it is 2D, shows two lines at the other views'
  planes (``crosshair=False`` hides), drawn into its canvas (:mod:`._crosshair`), not as a layer:
  nothing to select, save or delete.
* **Window/level:** right-drag in a view windows the main viewer's image (:mod:`._interaction`).
* Anatomical files keep upright views with orientation letters in every view (the same
  controller as the main canvas: :mod:`..viewer._anatomy`).

Turning the views off disconnects every hook this module made and closes the canvases.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
import weakref
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ..viewer._anatomy import FIRST_MARKERS_DELAY_MS, hold_markers, show_letters_on
from ..viewer._open import qt_viewer_of, unwrapped
from ..viewer._watch import watch_viewer
from ._crosshair import Crosshair
from ._interaction import link_window_level

__all__ = ["OrthogonalViews", "orthogonal_views", "PLANES", "MAIN"]

PLANES = ("axial", "coronal", "sagittal")
MAIN = "main"  # the main canvas, for :meth:`OrthogonalViews.crosshair_lines`
# The world axis each plane is perpendicular to, per world frame the plugin opened files in
# (..layers._geometry: "SPL" = (S, P, L) world axes, "RAS" = (R, A, S)).
_NORMAL = {"SPL": {"axial": -3, "coronal": -2, "sagittal": -1},
           "RAS": {"axial": -1, "coronal": -2, "sagittal": -3}}
_SYNCED = ("visible", "opacity", "blending", "contrast_limits", "colormap", "gamma", "selected_label",
           "show_selected_label", "contour", "rendering", "interpolation2d", "edge_color", "face_color")
_VIEWS: "weakref.WeakKeyDictionary[Any, OrthogonalViews]" = weakref.WeakKeyDictionary()


# napari warns on every slice of a plane that is not one of the data's own (an oblique file in the
# coronal and sagittal views): each view, each layer, each step — dozens of times per scroll, and
# Python's "once" cannot hold it back (napari's own warning filters keep resetting the registries).
_NON_ORTHOGONAL = "Non-orthogonal slicing is being requested"
_SHOWN: set = set()  # the messages of that warning already shown in this session
_DEPTH = [0]  # blocks open (they nest: the views' handlers run inside the views' own updates)


@contextlib.contextmanager
def _slicing_warned_once() -> Iterator[None]:
    """Inside the block, napari's non-orthogonal slicing warning is shown once per session.

    The block's warnings are recorded (the user's filters still apply) and re-issued after it,
    except a repeat of that one message: other warnings and code outside the block are untouched.
    """
    _DEPTH[0] += 1
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield
    finally:
        _DEPTH[0] -= 1
    for w in caught:
        text = str(w.message)
        if text.startswith(_NON_ORTHOGONAL) and not _DEPTH[0]:  # an enclosing block decides
            if text in _SHOWN:
                continue
            _SHOWN.add(text)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# The views' column takes this share of the width right of napari's layer controls; the main canvas
# keeps the rest (Qt would otherwise give the new dock its size hint, squeezing the canvas to nothing).
_VIEWS_SHARE = 0.4
# the smallest side of a view's canvas: Qt squeezes a dock to its minimum when another one in its column wants room
_MIN_VIEW_PX = 160


def _share_the_window(dock: Any) -> None:
    """Grow a small window toward the screen (never past it, never a maximised one) and split its
    width between the main canvas and the views' column (public Qt: QMainWindow.resizeDocks)."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QMainWindow

    window = dock.parentWidget()
    if not isinstance(window, QMainWindow):
        return
    screen = window.screen() if hasattr(window, "screen") else None
    if screen is not None and not (window.isMaximized() or window.isFullScreen()):
        room = screen.availableGeometry()
        wanted = (min(int(room.width() * 0.9), 1600), min(int(room.height() * 0.9), 1000))
        if window.width() < 0.85 * wanted[0] or window.height() < 0.85 * wanted[1]:  # small: napari's default
            window.resize(max(window.width(), wanted[0]), max(window.height(), wanted[1]))
    others = [d for d in window.findChildren(type(dock)) if d is not dock and d.isVisible()
              and window.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea]
    free = window.width() - max((d.width() for d in others), default=0)
    window.resizeDocks([dock], [max(int(free * _VIEWS_SHARE), 200)], Qt.Orientation.Horizontal)


_UNFITTED_ZOOM = 1e-4  # screen pixels per world unit: a 1 km field of view on a 100-pixel canvas


def _camera(model: Any) -> Any:
    scene = getattr(model, "scene", None)  # napari >= 0.9: model.scene.camera; model.camera before
    return scene.camera if scene is not None else model.camera


def _frame(viewer: Any) -> str:
    for layer in viewer.layers:
        frame = (getattr(layer, "metadata", None) or {}).get("mlarray_world")
        if frame in _NORMAL:
            return frame
    return "SPL"


class OrthogonalViews:
    """Three linked slice views of ``viewer``'s layers; ``views`` maps plane name -> ``ViewerModel``."""

    def __init__(self, viewer: Any, crosshair: bool = True) -> None:
        from napari.components import ViewerModel
        from napari.qt import QtViewer
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QHBoxLayout, QLabel, QSlider, QSplitter, QVBoxLayout, QWidget

        self.viewer = viewer
        self._closed = False
        self._hooks: list[tuple[Any, Callable]] = []
        self._copies: dict[int, dict[str, Any]] = {}
        self._busy = False
        self._crosshair = bool(crosshair)
        self._release_letters: dict[str, Callable[[], None]] = {}
        self.views: dict[str, Any] = {p: ViewerModel(title=p) for p in PLANES}
        self._qt = {p: QtViewer(m, show_welcome_screen=False) for p, m in self.views.items()}
        self._cross = {p: Crosshair(qt) for p, qt in self._qt.items()}
        main_qt = qt_viewer_of(viewer)  # the main canvas shows the crosshair too (3D Slicer's four-up)
        if main_qt is not None:
            self._cross[MAIN] = Crosshair(main_qt)
        # per main layer: whether its voxel axes are the world axes (then a view's slice depends only on the
        # point along its normal; an oblique grid's slice also depends on the point within the plane)
        self._aligned: dict[int, bool] = {}
        # the point the views cross at (world); the main viewer's dims.point follows it on the axes it slices
        self._point: tuple = tuple(viewer.dims.point)
        self._main_written: tuple = self._point  # the main viewer's point as this module last left it
        self._hidden: list = []  # (layer copy, its main layer) to show once its view is set up
        self.widget = QSplitter(Qt.Orientation.Vertical)
        self.widget.setObjectName("mlarray_orthogonal_views")
        # each view's slice slider is this module's, not napari's: every step then runs through the
        # linking code (and its warning filter) rather than only napari's own handler
        self.sliders: dict[str, Any] = {}
        self._slice_labels: dict[str, Any] = {}
        for p in PLANES:
            self._qt[p].dims.setVisible(False)
            # a readable canvas whatever else docks in the column (a widget opened later took all its height)
            self._qt[p].setMinimumSize(_MIN_VIEW_PX, _MIN_VIEW_PX)
            slider = self.sliders[p] = QSlider(Qt.Orientation.Horizontal)
            slider.setObjectName(f"mlarray_{p}_slice")
            slider.setToolTip(f"{p} slice")
            slider.valueChanged.connect(self._slide(p))
            label = self._slice_labels[p] = QLabel("")
            pane = QWidget()
            column = QVBoxLayout(pane)
            column.setContentsMargins(0, 0, 0, 0)
            column.addWidget(self._qt[p], 1)
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(label)
            column.addLayout(row)
            self.widget.addWidget(pane)
        self._dock = viewer.window.add_dock_widget(self.widget, name="Orthogonal views", area="right")
        # the dock as Qt holds it: napari's menu commands get a viewer proxy whose add_dock_widget returns a proxy
        # that Qt's own calls (QMainWindow.resizeDocks) refuse
        _share_the_window(self.widget.parentWidget())

        with _slicing_warned_once():  # the views slice the main viewer's layers along their planes
            for plane, model in self.views.items():
                self._letters_after_first_frame(plane)
                watch_viewer(model)
                link_window_level(model, viewer)  # right-drag in a view windows the main viewer's image
                show_letters_on(model, self._qt[plane])
                self._connect(model.dims.events.point, self._from_view(plane))
                model.mouse_drag_callbacks.append(self._click(plane))
                model.mouse_wheel_callbacks.append(self._wheel(plane))
            # a click on the main canvas moves the views too (napari's wheel zoom stays there)
            viewer.mouse_drag_callbacks.append(self._click_main)
            self._connect(viewer.layers.events.inserted, self._on_inserted)
            self._connect(viewer.layers.events.removed, self._on_removed)
            self._connect(viewer.dims.events.point, self._from_main)
            for name in ("order", "ndisplay"):  # axes that come off screen take the views' point
                self._connect(getattr(viewer.dims.events, name), self._main_layout)
            for layer in list(viewer.layers):
                self._add(layer)
            self._from_main()
        # Qt sizes the new canvases (and narrows the main one) only when it next lays the window out: a fit now
        # would use the old sizes (cropping the anatomy), and napari picks a pyramid level on each draw, hidden
        # layers included: at the placeholder size and zoom it took full resolution, then read full-resolution
        # coronal and sagittal planes when shown (at 1024³ those reads grew the process by 200 MB). Until the
        # views are fitted and their layers shown, once the layout has settled, they are zoomed far out, where
        # napari's choice is the coarsest level.
        for model in self.views.values():
            _camera(model).zoom = _UNFITTED_ZOOM
        from qtpy.QtCore import QTimer

        me = weakref.ref(self)

        def fit_if_shown() -> None:
            views = me()
            if views is not None and not views._closed:
                views.fit()
                with _slicing_warned_once():
                    views._show_copies()
                views._letters_after_next_frame()

        QTimer.singleShot(0, fit_if_shown)

    def _letters_after_first_frame(self, plane: str) -> None:
        """The view's orientation letters wait until its canvas has shown its first frame of the image (Qt's
        ``frameSwapped`` after the layers are shown): their text visuals cost as much as the frame itself,
        which the user waits for."""
        self._release_letters[plane] = hold_markers(self.views[plane])

    def _letters_after_next_frame(self) -> None:
        for plane, release in list(self._release_letters.items()):
            swapped = getattr(self._qt[plane].canvas.native, "frameSwapped", None)
            if swapped is None:  # a Qt binding without QOpenGLWidget: at once
                release()
            else:  # as on the main canvas: the letters come a moment after the first frame, not inside it
                swapped.connect(_once(swapped, functools.partial(_after_delay, release)))
        self._release_letters.clear()

    def fit(self) -> None:
        """Fit the main canvas and each view to its image (3D Slicer's "reset field of view")."""
        if self._closed:
            return
        with _slicing_warned_once():
            for model in (self.viewer, *self.views.values()):
                model.reset_view()

    # ------------------------------------------------------------------ hooks
    def _connect(self, emitter: Any, callback: Callable) -> None:
        emitter.connect(callback)
        self._hooks.append((emitter, callback))

    def close(self) -> None:
        """Remove the views: every hook is disconnected and the canvases are closed."""
        self._closed = True
        for emitter, callback in self._hooks:
            try:
                emitter.disconnect(callback)
            except (TypeError, ValueError, RuntimeError):  # already gone with its layer
                pass
        self._hooks.clear()
        if self._click_main in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self._click_main)
        try:
            self.viewer.window.remove_dock_widget(self._dock)
        except (KeyError, ValueError, RuntimeError, AttributeError):
            pass
        for cross in self._cross.values():
            cross.close()
        self._cross.clear()
        for model in self.views.values():
            model.layers.clear()
        for qt in self._qt.values():
            qt.close()
            qt.deleteLater()
        self.widget.deleteLater()
        self._qt.clear()
        self._copies.clear()
        _VIEWS.pop(self.viewer, None)

    # ------------------------------------------------------------------ layers
    def _add(self, layer: Any) -> None:
        from napari.layers import Layer

        data, state, kind = layer.as_layer_data_tuple()
        self._aligned[id(layer)] = _axis_aligned(layer)
        copies = {}
        busy, self._busy = self._busy, True  # a view's dims change as it gets the layer: not a user's move
        try:
            for plane, model in self.views.items():
                # hidden until the view has its plane, ranges and point: napari slices a hidden layer not at
                # all, a shown one on each of those changes (three reads of a slice nobody sees)
                copy = Layer.create(data, {**state, "visible": False}, kind)
                model.layers.append(copy)
                copies[plane] = copy
                self._hidden.append((copy, layer))
        finally:
            self._busy = busy
        self._copies[id(layer)] = copies
        group = [layer, *copies.values()]
        for member in group:
            for name in _SYNCED:
                emitter = getattr(member.events, name, None)
                if emitter is not None and hasattr(member, name):
                    self._connect(emitter, self._sync_property(member, group, name))
            for name in ("paint", "data"):
                emitter = getattr(member.events, name, None)
                if emitter is not None and kind == "labels":
                    self._connect(emitter, self._redraw_others(member, group))
            if kind in ("shapes", "points"):  # their data are the layer's own: copied on each edit
                self._connect(member.events.data, self._copy_data(member, group))
        self._update_crosshairs()

    def _on_inserted(self, event: Any) -> None:
        with _slicing_warned_once():
            self._add(event.value)
            self._from_main()
            self._show_copies()

    def _show_copies(self) -> None:
        busy, self._busy = self._busy, True  # the main layer's visibility, not a user's change
        try:
            for copy, main in self._hidden:
                copy.visible = main.visible
        finally:
            self._busy = busy
            self._hidden.clear()

    def _on_removed(self, event: Any) -> None:
        copies = self._copies.pop(id(event.value), {})
        self._aligned.pop(id(event.value), None)
        for plane, copy in copies.items():
            if copy in self.views[plane].layers:
                self.views[plane].layers.remove(copy)

    def _sync_property(self, source: Any, group: list, name: str) -> Callable:
        ref = weakref.ref(source)

        def follow(event: Any = None) -> None:
            src = ref()
            if src is None or self._busy:
                return
            self._busy = True
            try:
                value = getattr(src, name)
                for other in group:
                    if other is not src and hasattr(other, name):
                        setattr(other, name, value)
            except (ValueError, TypeError, AttributeError):  # a value one layer kind cannot take
                pass
            finally:
                self._busy = False

        return follow

    def _copy_data(self, source: Any, group: list) -> Callable:
        ref = weakref.ref(source)

        def copy(event: Any = None) -> None:
            src = ref()
            if src is None or self._busy or getattr(event, "action", "added") in ("adding", "removing", "changing"):
                return
            self._busy = True
            try:
                for other in group:
                    if other is src:
                        continue
                    if hasattr(src, "shape_type"):
                        other.data = []
                        if len(src.data):
                            other.add(list(src.data), shape_type=list(src.shape_type))
                    else:
                        other.data = src.data
                    other.features = src.features
                    if hasattr(other, "refresh_text"):
                        other.refresh_text()
            finally:
                self._busy = False

        return copy

    def _redraw_others(self, source: Any, group: list) -> Callable:
        ref = weakref.ref(source)

        def redraw(event: Any = None) -> None:
            src = ref()
            if src is None or self._busy:
                return
            self._busy = True
            try:
                for other in group:
                    if other is not src:
                        other.refresh()
            finally:
                self._busy = False

        return redraw

    # ------------------------------------------------------------------ slices
    def _normal(self, plane: str) -> Optional[int]:
        nd = self.viewer.dims.ndim
        if nd < 3:
            return None
        return nd + _NORMAL[_frame(self.viewer)][plane]

    @property
    def point(self) -> tuple:
        """Where the views cross (world coordinates, the main viewer's axes): the crosshair's centre.

        The main viewer's ``dims.point`` equals it on the axes the main canvas slices along; on the
        two it shows, napari would re-read the main canvas's slice for nothing, so they are left alone
        (except for an oblique grid, whose slice depends on the whole point).
        """
        return self._point

    def _oblique(self) -> bool:
        return not all(self._aligned.values())

    def _own_axes(self, dims: Any) -> list:
        """The axes of a viewer's point that decide what it shows: those off screen (its slice, time,
        channel) in a 2D view of grids along the world axes; every axis otherwise."""
        if self._oblique() and dims.ndisplay == 2:
            return list(range(dims.ndim))
        return list(dims.not_displayed)

    @staticmethod
    def _merged(dims: Any, point: tuple, axes: list) -> tuple:
        current = list(dims.point)
        for a in axes:
            current[a] = point[a]
        return tuple(current)

    def _apply_point(self) -> None:
        with _slicing_warned_once():
            self._apply_point_now()

    def _apply_point_now(self) -> None:
        point = list(self._point)
        for plane, model in self.views.items():
            nd = model.dims.ndim
            if nd != len(point):
                continue
            # the main viewer's ranges and steps (napari derives a view's own from its layers with
            # a unit step, so a 2 mm or 2000 s axis would step 1 world unit per notch)
            if tuple(model.dims.range) != tuple(self.viewer.dims.range):
                model.dims.range = self.viewer.dims.range
            normal = self._normal(plane)
            if normal is not None:
                order = [a for a in range(nd) if a != normal]
                # the normal axis off screen; the anatomy controller then makes the view upright
                wanted = tuple(order[:-2] + [normal] + order[-2:])
                if tuple(model.dims.order) != wanted and set(model.dims.order[-2:]) != set(wanted[-2:]):
                    model.dims.order = wanted
            # napari re-slices every layer of a view whose point moves on any axis, one on screen too; a grid
            # along the world axes shows the same slice wherever the point lies in the plane, so a view takes
            # only its off-screen axes (normal, time, channel), and the crosshair shows the rest
            dims = model.dims
            own = self._own_axes(dims)
            wanted = self._merged(dims, tuple(point), own)
            if wanted != tuple(dims.point):
                dims.point = wanted
            for a in dims.not_displayed:  # where napari put the slice (its nearest): the crosshair goes there
                point[a] = dims.point[a]
        self._point = tuple(point)
        self._update_crosshairs()
        self._show_slices()

    def _show_slices(self) -> None:
        """Each view's slider at its slice (without moving anything)."""
        for plane, slider in self.sliders.items():
            normal, model = self._normal(plane), self.views[plane]
            if normal is None or normal >= model.dims.ndim:
                continue
            blocked = slider.blockSignals(True)
            try:
                n, k = int(model.dims.nsteps[normal]), int(model.dims.current_step[normal])
                slider.setRange(0, max(n - 1, 0))
                slider.setValue(k)
                self._slice_labels[plane].setText(f"{k} | {n - 1}")  # as napari's own sliders read
            finally:
                slider.blockSignals(blocked)

    def _slide(self, plane: str) -> Callable[[int], None]:
        def moved(value: int) -> None:
            normal = self._normal(plane)
            if normal is None or self._busy:
                return
            with _slicing_warned_once():
                self.views[plane].dims.set_current_step(normal, int(value))

        return moved

    def _from_main(self, event: Any = None) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            main = tuple(self.viewer.dims.point)
            if len(main) != len(self._point):
                self._point = main
            else:  # the axes someone else moved (the main slider, a script, napari on new ranges)
                self._point = tuple(m if m != w else p for m, w, p in zip(main, self._main_written, self._point))
            self._main_written = main
            self._apply_point()
        finally:
            self._busy = False

    def _main_layout(self, event: Any = None) -> None:
        """The main viewer shows other axes (a roll, transpose, 2D/3D): those now off screen take the point."""
        if self._busy or len(self._point) != self.viewer.dims.ndim:
            return
        self._set_main_point(self._point)

    def _set_main_point(self, point: tuple) -> None:
        self._busy = True
        try:
            dims = self.viewer.dims
            if len(point) == dims.ndim:
                wanted = self._merged(dims, point, self._own_axes(dims))
                if wanted != tuple(dims.point):
                    with _slicing_warned_once():
                        dims.point = wanted
                self._main_written = tuple(dims.point)
                # where napari put the main slice (its nearest) on the axes it slices
                point = tuple(self._main_written[a] if a in dims.not_displayed else v for a, v in enumerate(point))
            self._point = tuple(point)
            self._apply_point()
        finally:
            self._busy = False

    def _from_view(self, plane: str) -> Callable:
        def moved(event: Any = None) -> None:
            if self._busy:
                return
            view, point = self.views[plane].dims, list(self._point)
            if view.ndim != len(point):
                return
            for axis in view.not_displayed:  # the view's own slice (its in-plane point is not kept current)
                point[axis] = view.point[axis]
            if tuple(point) != self._point:
                self._set_main_point(tuple(point))

        return moved

    def _click(self, plane: str) -> Callable:
        def on_drag(model: Any, event: Any) -> Iterator[None]:
            if event.button != 1 or "Control" in event.modifiers or "Shift" in event.modifiers:
                return
            # a click moves the other views; a left drag pans as usual in napari, so the point follows
            # the press only (a radiologist clicks to navigate, drags to pan)
            self._jump(plane, event.position)
            yield

        return on_drag

    def _click_main(self, viewer: Any, event: Any) -> Iterator[None]:
        if (event.button != 1 or "Control" in event.modifiers or "Shift" in event.modifiers
                or viewer.dims.ndisplay != 2):
            return
        self._jump(MAIN, event.position)  # as a click in a view: the point follows the press, a drag pans
        yield

    def _jump(self, plane: str, position: Any) -> None:
        model = self.viewer if plane == MAIN else self.views[plane]
        point = list(self._point)
        if len(position) != len(point):
            return
        for axis in model.dims.displayed:
            point[axis] = float(position[axis])
        self._set_main_point(tuple(point))

    def _wheel(self, plane: str) -> Callable:
        def on_wheel(model: Any, event: Any) -> None:
            if event.modifiers:
                return  # napari's own modifiers (Control: slices, Alt: layers) stay
            normal = self._normal(plane)
            if normal is None:
                return
            delta = float(np.sign(event.delta[-1])) if np.ndim(event.delta) else float(np.sign(event.delta))
            if delta == 0:
                return
            step = model.dims.current_step[normal] + (1 if delta > 0 else -1)
            with _slicing_warned_once():
                model.dims.set_current_step(normal, int(step))
            event.handled = True  # instead of zooming: one slice per wheel notch

        return on_wheel

    # ------------------------------------------------------------------ crosshair
    @property
    def crosshair(self) -> bool:
        return self._crosshair

    @crosshair.setter
    def crosshair(self, on: bool) -> None:
        self._crosshair = bool(on)
        self._update_crosshairs()

    def crosshair_lines(self, plane: str) -> Optional[np.ndarray]:
        """The crosshair drawn in ``plane``'s view (:data:`MAIN`: the main canvas): its two lines' ends in world
        coordinates of the view's displayed axes (``[line, end, axis]``), or None when it is hidden."""
        cross = self._cross.get(plane)
        if cross is None or not cross.visible:
            return None
        return cross.segments()

    def _update_crosshairs(self) -> None:
        point = self._point
        for plane, cross in self._cross.items():
            model = self.viewer if plane == MAIN else self.views[plane]
            dims = model.dims
            if (not self._crosshair or self._normal(PLANES[0]) is None or dims.ndisplay != 2
                    or not len(model.layers) or dims.ndim != len(point)):
                cross.visible = False
                continue
            shown = list(dims.displayed)
            extent = np.asarray(model.layers.extent.world, dtype=float)
            if extent.shape[1] != dims.ndim:
                cross.visible = False
                continue
            cross.move([point[a] for a in shown], extent[0, shown].tolist(), extent[1, shown].tolist())
            cross.visible = True


def _after_delay(fn: Callable[[], None]) -> None:
    from qtpy.QtCore import QTimer

    QTimer.singleShot(FIRST_MARKERS_DELAY_MS, fn)


def _once(signal: Any, fn: Callable[[], None]) -> Callable[[], None]:
    """A slot for ``signal`` that calls ``fn`` on the first emission only, then disconnects itself."""
    done = [False]

    def slot() -> None:
        if done[0]:
            return
        done[0] = True
        try:
            signal.disconnect(slot)
        except (TypeError, RuntimeError):  # already gone with its canvas
            pass
        fn()

    return slot


def orthogonal_views(viewer: Any, enabled: bool = True, crosshair: bool = True) -> Optional[OrthogonalViews]:
    """Show or remove linked axial, coronal and sagittal views beside ``viewer``'s canvas.

    The views show ``viewer``'s layers (shared data); moving the slice in one moves the others.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose layers are shown.
    enabled : bool
        True shows the views (a second call returns the views already shown); False removes them.
    crosshair : bool
        Draw the lines where the other two planes cut each view.

    Returns
    -------
    OrthogonalViews or None
        The views (``.views`` maps ``"axial"``, ``"coronal"``, ``"sagittal"`` to each view's napari
        ``ViewerModel``), or None once removed.
    """
    viewer = unwrapped(viewer)  # a menu command's proxy warns on the main QtViewer the views draw into
    current = _VIEWS.get(viewer)
    if not enabled:
        if current is not None:
            current.close()
        return None
    if current is None:
        current = _VIEWS[viewer] = OrthogonalViews(viewer, crosshair=crosshair)
    else:
        current.crosshair = crosshair
    return current


def toggle_orthogonal_views(viewer: Any) -> None:
    """Menu command: turn the linked views on, or off when they are shown."""
    orthogonal_views(viewer, enabled=unwrapped(viewer) not in _VIEWS)


def _axis_aligned(layer: Any) -> bool:
    """Whether each of ``layer``'s voxel axes runs along one world axis (a scaled, flipped or permuted grid)."""
    try:
        n = int(layer.ndim)
        origin = np.asarray(layer.data_to_world(np.zeros(n)), dtype=float)
        jac = np.stack([np.asarray(layer.data_to_world(np.eye(n)[i]), dtype=float) - origin for i in range(n)])
    except (AttributeError, TypeError, ValueError):
        return True
    big = np.abs(jac) > 1e-9 * max(float(np.abs(jac).max()), 1e-300)
    return bool((big.sum(axis=0) <= 1).all() and (big.sum(axis=1) <= 1).all())
