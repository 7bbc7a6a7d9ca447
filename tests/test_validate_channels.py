"""Issue 27 item 5: `mlarray validate` checks the channel lists in ``extra`` against the channel axis."""

from __future__ import annotations

import numpy as np
import pytest

from mlarray import Meta, MLArray
from mlarray.cli import main as cli


def _file(tmp_path, extra, labels=("channel", "spatial_y", "spatial_x")):
    shape = (2, 6, 7) if "channel" in labels else (6, 7)
    path = tmp_path / "img.mla"
    MLArray(np.zeros(shape, np.uint16), axis_labels=list(labels), meta=Meta(extra=extra)).save(path)
    return path


@pytest.mark.parametrize("extra, field", [
    ({"channel_names": ["DAPI", "GFP", "RFP"]}, "extra.channel_names"),
    ({"channel_colors": ["#0000ff"]}, "extra.channel_colors"),
    ({"channel_windows": [[0, 10], [5, 1]]}, "extra.channel_windows[1]"),
    ({"channel_visible": [True, "no"]}, "extra.channel_visible[1]"),
])
def test_channel_lists_must_match_the_channel_axis(tmp_path, capsys, extra, field):
    path = _file(tmp_path, extra)
    assert cli(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert field in out.out + out.err


def test_channel_lists_without_a_channel_axis_are_reported(tmp_path, capsys):
    path = _file(tmp_path, {"channel_names": ["DAPI", "GFP"]}, labels=("spatial_y", "spatial_x"))
    assert cli(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert "no channel axis" in out.out + out.err


def test_whole_channel_lists_are_fine(tmp_path):
    path = _file(tmp_path, {"channel_names": ["DAPI", "GFP"], "channel_colors": ["#0000ff", "#00ff00"],
                            "channel_windows": [[200, 20000], [0, 500]], "channel_visible": [True, False]})
    assert cli(["validate", str(path)]) == 0


def test_the_display_window_is_checked_when_present(tmp_path, capsys):
    good = _file(tmp_path, {"display_window": [-160, 240]}, labels=("spatial_y", "spatial_x"))
    assert cli(["validate", str(good)]) == 0
    path = _file(tmp_path, {"display_window": [240, -160]}, labels=("spatial_y", "spatial_x"))
    assert cli(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert "extra.display_window" in out.out + out.err
