"""Issue 18 item 9: warnings raised while opening a file reach napari's notification area."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import MLArray


@pytest.fixture
def oblique_file(tmp_path):
    a = math.radians(20)
    d = [[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]]
    ml = MLArray(np.zeros((4, 30, 30), np.int16), spacing=[1, 1, 1], direction=d)
    ml.meta.spatial.coord_system = "RAS"
    ml.save(tmp_path / "obl.mla")
    return tmp_path / "obl.mla"


def _warnings_recorded(manager, start: int) -> list[str]:
    from napari.utils.notifications import NotificationSeverity

    return [n.message for n in manager.records[start:] if n.severity == NotificationSeverity.WARNING]


def test_warning_reaches_notifications_before_the_event_loop(make_napari_viewer, oblique_file):
    """Like ``napari file.mla`` or a script: the file is opened before napari.run() installs its hooks."""
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    start = len(notification_manager.records)
    with pytest.warns(UserWarning, match="oblique"):  # scripts still get the Python warning
        viewer.open(str(oblique_file), plugin=PLUGIN)
    shown = _warnings_recorded(notification_manager, start)
    assert len(shown) == 1 and "oblique" in shown[0]


def test_warning_is_notified_once_inside_the_event_loop(make_napari_viewer, oblique_file, tmp_path):
    """Inside napari.run() napari's hooks turn the warning into the notification: shown once, not twice."""
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    other = tmp_path / "obl2.mla"
    other.write_bytes(oblique_file.read_bytes())  # another file: the oblique note is once per file
    start = len(notification_manager.records)
    with notification_manager:  # what napari.run() installs
        viewer.open(str(other), plugin=PLUGIN)
    ours = [m for m in _warnings_recorded(notification_manager, start) if m.startswith("obl2:")]
    assert len(ours) == 1 and "oblique" in ours[0]


_STEPPING_SESSION = """
import sys
from qtpy.QtWidgets import QApplication
import napari

viewer = napari.Viewer(show=True)
viewer.open(sys.argv[1], plugin="mlarray")
app = QApplication.instance()
for k in range(6):  # a user moving the slider through the oblique volume
    viewer.dims.set_current_step(0, viewer.dims.current_step[0] + 1)
    app.processEvents()
viewer.close()
"""


def test_stepping_through_an_oblique_file_says_so_once_on_the_terminal(oblique_file, tmp_path):
    """A script's terminal (a trial user's: napari repeated its non-orthogonal slicing warning on every
    step): the plugin's own warning once, napari's per-slice copy of the same news not at all."""
    import os
    import subprocess
    import sys

    script = tmp_path / "session.py"
    script.write_text(_STEPPING_SESSION)
    run = subprocess.run([sys.executable, str(script), str(oblique_file)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert run.returncode == 0, run.stderr[-3000:]
    terminal = run.stdout + run.stderr
    assert terminal.count("the image axes are oblique to the world axes") == 1, terminal[-3000:]
    assert "Non-orthogonal slicing is being requested" not in terminal, terminal[-3000:]
