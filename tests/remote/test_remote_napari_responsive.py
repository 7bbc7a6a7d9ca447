"""napari stays responsive while a remote layer's chunks arrive: the plugin's hint turns on napari's
asynchronous slicing at the user's click (run under Xvfb, the Range server of conftest.http_server answering
each request after a delay)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mlarray import MLArray

pytest.importorskip("napari")

LATENCY = 0.4  # seconds per request: one slider move costs at least one round trip


def _move(viewer, layer, qtbot, step: int) -> dict:
    """A slider move, with a Qt timer ticking every 20 ms from the move until the new frame's chunks are in."""
    from qtpy.QtCore import QTimer

    stamps: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    timer.start(20)
    qtbot.wait(60)
    t0 = time.perf_counter()
    viewer.dims.set_current_step(0, step)
    ticks_in_call = sum(s >= t0 for s in stamps)
    loaded_on_return = layer.loaded
    qtbot.waitUntil(lambda: layer.loaded, timeout=30000)
    t1 = time.perf_counter()
    qtbot.wait(60)
    timer.stop()
    during = [t0] + [s for s in stamps if s >= t0]
    return dict(ticks_in_call=ticks_in_call, loaded_on_return=loaded_on_return,
                longest_gap=float(np.diff(during).max()), ticks=sum(t0 <= s <= t1 for s in stamps),
                seconds=t1 - t0)


def _buttons(text: str) -> list:
    from qtpy.QtWidgets import QApplication, QPushButton

    return [w for w in QApplication.allWidgets() if isinstance(w, QPushButton) and w.text() == text and w.isVisible()]


def test_the_hint_button_turns_on_async_slicing_and_slider_moves_stop_freezing_the_window(
        make_napari_viewer, http_server, tmp_path, qtbot):
    from napari.settings import get_settings
    from napari.utils.notifications import notification_manager
    from qtpy.QtCore import Qt

    from napari_mlarray._remote import ASYNC_BUTTON

    url, rec = http_server
    z, y, x = np.mgrid[:64, :256, :256]
    arr = ((np.sin(x / 20) + np.cos(y / 30)) * 500 + z * 10).astype(np.int16)
    MLArray(arr, chunk_size=[8, 128, 128]).save(tmp_path / "ct.mla")
    MLArray(arr[:8], chunk_size=[8, 128, 128]).save(tmp_path / "other.mla")
    settings = get_settings()
    before = settings.experimental.async_
    settings.experimental.async_ = False  # napari's default
    try:
        viewer = make_napari_viewer(show=True)
        hints = len(notification_manager.records)
        layer, = viewer.open(f"{url}/ct.mla", plugin="mlarray")
        qtbot.waitUntil(lambda: len(_buttons(ASYNC_BUTTON)) == 1, timeout=10000)
        assert "napari waits for a URL's chunks" in notification_manager.records[hints].message
        viewer.open(f"{url}/other.mla", plugin="mlarray")
        assert len(notification_manager.records) == hints + 1  # once per viewer
        viewer.layers.remove("other")

        rec.delay = LATENCY
        frozen = _move(viewer, layer, qtbot, 50)
        # synchronous slicing: the move returned with the chunks in, the event loop stood still meanwhile
        assert frozen["loaded_on_return"] and frozen["ticks_in_call"] == 0
        assert frozen["longest_gap"] >= LATENCY
        assert not settings.experimental.async_  # the plugin changed no setting by itself

        qtbot.mouseClick(_buttons(ASYNC_BUTTON)[0], Qt.MouseButton.LeftButton)
        assert settings.experimental.async_
        rec.reset()
        smooth = _move(viewer, layer, qtbot, 10)
        # asynchronous: the move returned at once and Qt went on ticking while the chunks arrived
        assert not smooth["loaded_on_return"] and rec.requests
        assert smooth["ticks"] >= 5 and smooth["longest_gap"] < LATENCY
        shown = viewer.screenshot(canvas_only=True, flash=False)
        assert shown[..., :3].std() > 10
        print(f"slider move at {LATENCY * 1000:.0f} ms per request: synchronous {frozen['longest_gap']:.2f} s "
              f"without a tick; asynchronous {smooth['ticks']} ticks in {smooth['seconds']:.2f} s, longest gap "
              f"{smooth['longest_gap']:.3f} s")
    finally:
        settings.experimental.async_ = before


def test_no_hint_when_async_slicing_is_on(make_napari_viewer, http_server, tmp_path, qtbot):
    from napari.settings import get_settings
    from napari.utils.notifications import notification_manager

    url, rec = http_server
    MLArray(np.zeros((4, 32, 32), np.uint8)).save(tmp_path / "small.mla")
    settings = get_settings()
    before = settings.experimental.async_
    settings.experimental.async_ = True
    try:
        viewer = make_napari_viewer(show=True)
        n = len(notification_manager.records)
        layer, = viewer.open(f"{url}/small.mla", plugin="mlarray")
        qtbot.waitUntil(lambda: layer.loaded, timeout=10000)
        assert len(notification_manager.records) == n
    finally:
        settings.experimental.async_ = before
