"""Opening an ``.mla`` URL without freezing napari.

The open (the file's header, chunk index and trailer, and the frame of the coarsest pyramid level,
which napari reads for the thumbnail as soon as the layer is added) runs in a thread while napari's
``progress`` shows "Opening <url>" and Qt keeps repainting; user input waits until the layers exist,
so nothing acts on a half-opened file. Pixels arrive later, when napari slices: with napari's
asynchronous slicing (Preferences > Experimental > "Render Layers Asynchronously") in its own threads,
with the layer list's loading indicator. Without it, every slider move waits for the frame's chunks with
the window frozen, so the first URL a viewer opens says so, with a button that turns the setting on. The
plugin never turns it on by itself: it is the user's saved preference (napari stores every change), and
``NAPARI_ASYNC=1`` turns it on for one session without saving.
"""

from __future__ import annotations

import posixpath
import sys
import threading
import weakref
from typing import Callable, TypeVar

from mlarray import MLArray
from mlarray._remote import named_path

from .layers._to_layers import layers_from_mlarray

__all__ = ["layer_data_from_url"]

_T = TypeVar("_T")
SLOW_S = 0.25  # an open taking longer shows progress
ASYNC_BUTTON = "Render async"
_hinted: weakref.WeakSet = weakref.WeakSet()  # the viewers told about asynchronous slicing


def _layer_name(url: str) -> str:
    """The file's name without ``.mla``, as for a local file: ``https://h/head%20ct.mla?X-Amz-...`` -> ``head ct``
    (no query, percent-escapes decoded; napari's command line passes URLs as typed, a drop decoded)."""
    name = posixpath.basename(named_path(url))
    return name[: -len(".mla")] if name.lower().endswith(".mla") else name


def _open(url: str) -> list:
    ml = MLArray.open(url, mmap_mode="r")
    if ml.meta.has_array and len(ml.levels) > 1:
        ml.levels[-1].open()
    return layers_from_mlarray(ml, url, name=_layer_name(url))


def layer_data_from_url(url: str) -> list:
    """Layer data tuples of the ``.mla`` at ``url``, opened as the module doc says."""
    _hint_async()
    return _while_repainting(f"Opening {url}", lambda: _open(url))


def _while_repainting(desc: str, fn: Callable[[], _T]) -> _T:
    """``fn()`` in a thread; if it takes longer than :data:`SLOW_S`, napari's progress is shown and Qt
    repaints until it is done (in Qt's main thread only)."""
    if "napari" not in sys.modules:
        return fn()
    from qtpy.QtCore import QEventLoop, QThread
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return fn()
    box: dict = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread, as if called there
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="mlarray-open-url", daemon=True).start()
    if not done.wait(SLOW_S):  # a fast open repaints nothing: a repaint of the window costs more
        from napari.utils import progress

        with progress(total=0, desc=desc):
            while not done.wait(0.02):
                app.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _hint_async() -> None:
    """Once per viewer, while napari slices synchronously: say that slider moves wait for the chunks, with a
    button that turns asynchronous slicing on (the user's choice; napari saves it in its settings)."""
    if "napari" not in sys.modules:
        return
    import napari
    from napari.settings import get_settings
    from napari.utils.notifications import Notification, NotificationSeverity, notification_manager

    viewer = napari.current_viewer()
    if get_settings().experimental.async_ or viewer is None or viewer in _hinted:
        return
    _hinted.add(viewer)
    note = Notification(
        "napari waits for a URL's chunks before it responds again: render layers asynchronously to keep it "
        "responsive (saved in Preferences > Experimental; NAPARI_ASYNC=1 turns it on for one session)",
        severity=NotificationSeverity.INFO, actions=[(ASYNC_BUTTON, _render_async)])
    _once_a_window_shows(lambda: notification_manager.dispatch(note))


def _once_a_window_shows(fn: Callable[[], object], tries: int = 600) -> None:
    """``fn()`` once a main window is visible (checked every 0.1 s, at most ``tries`` times, then anyway).

    napari's command line opens its files before it shows its window, and napari records a notification
    dispatched while no window is visible without ever showing it."""
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication, QMainWindow

    if tries <= 0 or any(isinstance(w, QMainWindow) and w.isVisible() for w in QApplication.topLevelWidgets()):
        fn()
    else:
        QTimer.singleShot(100, lambda: _once_a_window_shows(fn, tries - 1))


def _render_async(_widget: object = None) -> None:
    """The notification's button: napari's own setting, as Preferences > Experimental sets it."""
    from napari.settings import get_settings

    get_settings().experimental.async_ = True
