"""Warnings raised while reading a file reach napari's notification area, not only the terminal.

napari turns Python warnings into notifications only while its hooks are installed, i.e. inside
``napari.run()``. Files opened before that (``napari file.mla``, ``mlarray demo``, scripts calling
``viewer.open`` and then ``napari.run()``) warned on the terminal alone. The reader therefore
records the warnings of a read (the plugin's and the format library's) with
:func:`relayed_warnings` and re-issues each one: as a Python warning (scripts and tests still see
it; with napari's hooks installed it becomes the notification) and, when napari is loaded but its
hooks are not installed, also as a napari notification (in the window, not a second time on the
terminal), so it is shown once in either case.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

__all__ = ["relayed_warnings"]


def _to_napari(message: str) -> None:
    if "napari" not in sys.modules:  # the mapping used by a script without napari: terminal only
        return
    try:
        from napari.utils.notifications import Notification, NotificationSeverity, notification_manager
    except ImportError:  # pragma: no cover - napari without notifications
        return
    if getattr(warnings.showwarning, "__self__", None) is notification_manager:
        return  # napari's hooks are installed: the re-issued warning is the notification
    from napari.utils.notifications import show_console_notification

    # the terminal has the Python warning already: napari's console copy of it would be a second line
    with notification_manager.notification_ready.blocker(show_console_notification):
        notification_manager.dispatch(Notification(message, severity=NotificationSeverity.WARNING))


@contextlib.contextmanager
def relayed_warnings():
    """Record the warnings raised inside the block, then re-issue them (see the module docstring)."""
    with warnings.catch_warnings(record=True) as caught:
        yield
    for w in caught:  # warnings the user's filters ignore were never recorded
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        _to_napari(str(w.message))
