"""The ways a user hands napari a URL besides ``viewer.open``: ``napari https://host/ct.mla`` on the command line
and a URL dropped on the canvas (run under Xvfb, against the Range server of conftest.http_server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mlarray import MLArray

pytest.importorskip("napari")
from napari_mlarray._remote import ASYNC_BUTTON  # noqa: E402

# Runs ``python -m napari URL`` as napari's console script does (runpy, ``__main__``); napari's own event loop
# (``napari.run``) first schedules a look at what the command opened, written to a JSON file, then quits (once the
# plugin's hint is shown, or after 4 s).
_DRIVER = textwrap.dedent("""
    import json, runpy, sys
    import napari
    import numpy as np

    out, button = sys.argv.pop(1), sys.argv.pop(1)
    real_run = napari.run

    def report():
        from qtpy.QtWidgets import QApplication, QPushButton
        viewer = napari.current_viewer()
        layers = [dict(name=ly.name, shape=list(ly.data.shape), multiscale=bool(ly.multiscale),
                       source=str(ly.source.path), reader=ly.source.reader_plugin,
                       middle=np.asarray(ly.data[0][ly.data[0].shape[0] // 2] if ly.multiscale
                                         else ly.data[ly.data.shape[0] // 2]).tolist())
                  for ly in viewer.layers]
        from napari.settings import get_settings
        from napari.utils.notifications import notification_manager
        with open(out, "w") as f:
            json.dump(dict(layers=layers, napari=napari.__version__, notes=[n.message for n in
                           notification_manager.records], async_=get_settings().experimental.async_,
                           buttons=[w.text() for w in QApplication.allWidgets()
                                    if isinstance(w, QPushButton) and w.isVisible()]), f)
        viewer.close()
        QApplication.instance().quit()

    def report_when_settled(waited=0):  # the plugin's hint appears once the window shows, or never
        from qtpy.QtCore import QTimer
        from qtpy.QtWidgets import QApplication, QPushButton
        if waited >= 4000 or any(isinstance(w, QPushButton) and w.isVisible() and w.text() == button
                                 for w in QApplication.allWidgets()):
            report()
        else:
            QTimer.singleShot(100, lambda: report_when_settled(waited + 100))

    def run(*args, **kwargs):
        from qtpy.QtCore import QTimer
        QTimer.singleShot(0, report_when_settled)
        return real_run(*args, **kwargs)

    napari.run = run
    sys.argv[0] = "napari"
    runpy.run_module("napari", run_name="__main__", alter_sys=True)
""")


def _volume(tmp_path, name: str) -> np.ndarray:
    z, y, x = np.mgrid[:12, :64, :80]
    arr = ((np.sin(x / 9) + np.cos(y / 7)) * 400 + z * 30).astype(np.int16)
    MLArray(arr, spacing=[3.0, 1.0, 1.0], chunk_size=[4, 32, 40]).save(tmp_path / name)
    return arr


def _napari_command(tmp_path, *argv: str, **environ: str) -> dict:
    """What ``napari *argv`` opened (its layers, notifications), run in a process of its own with a throwaway
    settings file and ``environ`` added to the environment."""
    driver, out = tmp_path / "driver.py", tmp_path / "opened.json"
    driver.write_text(_DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "NAPARI_ASYNC"}  # napari's default unless a test says
    env.update(NAPARI_CONFIG=str(tmp_path / "napari_settings.yaml"), **environ)
    proc = subprocess.run([sys.executable, str(driver), str(out), ASYNC_BUTTON, *argv], env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and out.exists(), proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_napari_command_line_opens_a_url(http_server, tmp_path):
    url, rec = http_server
    arr = _volume(tmp_path, "ct.mla")
    got = _napari_command(tmp_path, f"{url}/ct.mla")
    layer, = got["layers"]
    assert layer["name"] == "ct" and layer["shape"] == [12, 64, 80] and layer["reader"] == "mlarray"
    assert layer["source"] == f"{url}/ct.mla"
    np.testing.assert_array_equal(np.array(layer["middle"]), arr[6])
    assert {p for p, _ in rec.requests} == {"/ct.mla"}
    assert not got["async_"] and any("napari waits for a URL's chunks" in n for n in got["notes"])  # the hint,
    assert ASYNC_BUTTON in got["buttons"]  # shown in the window, which the command line showed after opening


def test_napari_async_for_one_session_from_the_environment(http_server, tmp_path):
    """``NAPARI_ASYNC=1 napari URL``, as the README says: asynchronous slicing, no hint, nothing saved."""
    url, rec = http_server
    _volume(tmp_path, "ct.mla")
    got = _napari_command(tmp_path, f"{url}/ct.mla", NAPARI_ASYNC="1")
    assert got["layers"][0]["name"] == "ct"
    assert got["async_"] and not any("napari waits for a URL's chunks" in n for n in got["notes"])
    saved = tmp_path / "napari_settings.yaml"
    assert not saved.exists() or "async" not in saved.read_text()


def test_napari_command_line_opens_a_signed_url_of_a_name_with_a_space(http_server, tmp_path):
    """As a presigned object-store link is pasted: percent-escapes and a query; the layer is named by the file."""
    url, rec = http_server
    arr = _volume(tmp_path, "head ct.mla")
    signed = f"{url}/head%20ct.mla?X-Amz-Credential=AK%2F2026%2Fus&X-Amz-Signature=a%2Bb.c"
    got = _napari_command(tmp_path, signed)
    layer, = got["layers"]
    assert layer["name"] == "head ct" and layer["source"] == signed
    assert rec.requests and all(p == signed.removeprefix(url) for p, _ in rec.requests)  # the query goes along
    np.testing.assert_array_equal(np.array(layer["middle"]), arr[6])


def _drop(viewer, urls) -> None:
    """A drop of ``urls`` (QUrl) on the viewer's canvas, as Qt delivers it from a browser or file manager."""
    from qtpy.QtCore import QMimeData, QPoint, QPointF, Qt
    from qtpy.QtGui import QDragEnterEvent, QDropEvent
    from qtpy.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls(urls)
    mime.setText("\n".join(u.toString() for u in urls))
    qt_viewer = viewer.window._qt_viewer
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(qt_viewer, enter)
    assert enter.isAccepted()  # napari takes the drag
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(qt_viewer, drop)


def test_a_dropped_url_opens_through_the_plugin(make_napari_viewer, http_server, tmp_path):
    from qtpy.QtCore import QUrl

    url, rec = http_server
    arr = _volume(tmp_path, "ct.mla")
    viewer = make_napari_viewer(show=True)
    _drop(viewer, [QUrl(f"{url}/ct.mla")])
    layer, = viewer.layers
    assert layer.name == "ct" and layer.source.reader_plugin == "mlarray"
    np.testing.assert_array_equal(np.asarray(layer.data[5]), arr[5])
    assert {p for p, _ in rec.requests} == {"/ct.mla"}


def test_dropped_urls_of_names_with_a_space_an_accent_and_a_query(make_napari_viewer, http_server, tmp_path):
    """Qt hands napari the URL with ``%20`` and ``%C3%A9`` decoded (``QUrl.toString``): the reader sends the
    bytes the server names the file by."""
    from qtpy.QtCore import QUrl

    url, rec = http_server
    a = _volume(tmp_path, "head ct.mla")
    b = _volume(tmp_path, "épaule.mla")[:, ::-1]
    MLArray(np.ascontiguousarray(b), spacing=[3.0, 1.0, 1.0]).save(tmp_path / "épaule.mla")
    viewer = make_napari_viewer(show=True)
    _drop(viewer, [QUrl(f"{url}/head%20ct.mla"), QUrl(f"{url}/%C3%A9paule.mla?token=a%2Bb")])
    names = [ly.name for ly in viewer.layers]
    assert names == ["head ct", "épaule"]
    np.testing.assert_array_equal(np.asarray(viewer.layers[0].data[5]), a[5])
    np.testing.assert_array_equal(np.asarray(viewer.layers[1].data[5]), b[5])
