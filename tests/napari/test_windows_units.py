"""CT windows on images whose values are not Hounsfield units, and the percentile windows in the menu (issue 26).

A trial user applied Layers › Visualize › CT window › Window: brain to pydicom's MR_small (values 127-2145):
the limits became (0, 80), an all-white image, without a word. The window is still applied (the user asked),
with a warning naming the image's unit and the percentile windows, which are now in the menu too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("napari")

from conftest import PLUGIN  # noqa: E402

from mlarray import MLArray  # noqa: E402
from mlarray.cli import main as mlarray_cli  # noqa: E402
from napari_mlarray import window  # noqa: E402
from napari_mlarray.radiology._windows import PERCENTILE_WINDOWS, WindowUnitWarning, command_name  # noqa: E402

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402


def _converted(tmp_path, name: str, **changes):
    ds = pydicom.dcmread(get_testdata_file(name))
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.save_as(tmp_path / name)
    out = tmp_path / (name.rsplit(".", 1)[0] + ".mla")
    assert mlarray_cli(["convert", str(tmp_path / name), str(out)]) == 0
    return out


def _image(viewer, path):
    return next(ly for ly in viewer.open(str(path), plugin=PLUGIN) if type(ly).__name__ == "Image")


def _run(command: str) -> None:
    from napari._app_model import get_app_model

    get_app_model().commands.execute_command(command).result()


def _warnings_notified(start: int) -> list[str]:
    from napari.utils.notifications import NotificationSeverity, notification_manager

    return [n.message for n in notification_manager.records[start:] if n.severity == NotificationSeverity.WARNING]


def test_a_ct_window_on_an_mr_is_applied_with_a_warning(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    mr = _image(viewer, _converted(tmp_path, "MR_small.dcm"))
    with pytest.warns(WindowUnitWarning) as caught:
        assert window(mr, "brain") == (0.0, 80.0)
    assert tuple(mr.contrast_limits) == (0.0, 80.0)  # applied all the same
    (message,) = [str(w.message) for w in caught if w.category is WindowUnitWarning]
    assert "Hounsfield" in message and "no unit" in message and "percentiles 1-99" in message
    assert caught[0].filename == __file__  # the warning points at the caller's line


def test_a_ct_window_on_a_dose_names_its_unit(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    dose = _image(viewer, _converted(tmp_path, "rtdose.dcm", DoseUnits="GY"))
    with pytest.warns(WindowUnitWarning, match=r"values in Gy, not HU"):
        window(dose, "lung")


def test_a_ct_window_on_a_ct_and_a_percentile_window_on_an_mr_do_not_warn(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    ct = _image(viewer, _converted(tmp_path, "CT_small.dcm"))
    mr = _image(viewer, _converted(tmp_path, "MR_small.dcm"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", WindowUnitWarning)
        window(ct, "bone")
        window(mr, "percentiles 1-99")


def test_the_ct_window_menu_on_an_mr_shows_a_napari_warning(make_napari_viewer, tmp_path):
    """Layers › Visualize › CT window › Window: brain, as napari runs the menu entry."""
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    mr = _image(viewer, _converted(tmp_path, "MR_small.dcm"))
    viewer.layers.selection.active = mr
    start = len(notification_manager.records)
    with pytest.warns(WindowUnitWarning):
        _run("mlarray.window_brain")
    assert tuple(mr.contrast_limits) == (0.0, 80.0)
    (shown,) = [m for m in _warnings_notified(start) if "Hounsfield" in m]
    assert mr.name in shown and "no unit" in shown and "Percentile window" in shown


@pytest.mark.parametrize("name", list(PERCENTILE_WINDOWS))
def test_the_percentile_window_menu_applies_the_file_s_percentiles(make_napari_viewer, tmp_path, name):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    path = _converted(tmp_path, "MR_small.dcm")
    mr = _image(viewer, path)
    viewer.layers.selection.active = mr
    # the entry is in the Layers › Visualize › Percentile window submenu, titled as the CT windows are
    menus = dict(get_app_model().menus)
    (submenu,) = [it.submenu for it in menus["napari/layers/visualize"]
                  if getattr(it, "title", None) == "Percentile window"]
    titles = {it.command.id: it.command.title for it in menus[submenu]}
    assert titles[f"mlarray.{command_name(name)}"].startswith(f"Window: {name}")
    mr.contrast_limits = (1.0, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", WindowUnitWarning)
        _run(f"mlarray.{command_name(name)}")
    low, high = PERCENTILE_WINDOWS[name]
    values = np.asarray(MLArray.open(path)[...], dtype=float)
    # the window reads the percentiles stored in the file; numpy's of the same voxels, within 2 % of the range
    expected = (np.percentile(values, low), np.percentile(values, high))
    atol = 0.02 * float(values.max() - values.min())
    assert np.allclose(mr.contrast_limits, expected, rtol=0, atol=atol), (mr.contrast_limits, expected)
