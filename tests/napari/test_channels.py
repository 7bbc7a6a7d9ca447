"""Issue 18 item 4: each channel layer takes its contrast limits from its own stored statistics."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLUGIN

from mlarray import Meta, MLArray


@pytest.fixture
def two_range_channels(tmp_path):
    """A 0..1 probability channel beside a 0..10000 count channel, each a disc in its own half."""
    yy, xx = np.mgrid[:60, :80]
    prob = np.where((yy - 30) ** 2 + (xx - 20) ** 2 < 15 ** 2, 0.9, 0.05).astype(np.float32)
    counts = np.where((yy - 30) ** 2 + (xx - 60) ** 2 < 15 ** 2, 9000.0, 100.0).astype(np.float32)
    arr = np.stack([prob, counts])
    MLArray(arr, spacing=[0.5, 0.5], axis_labels=["channel", "spatial_y", "spatial_x"],
            meta=Meta(extra={"channel_names": ["prob", "counts"]})).save(tmp_path / "ch.mla")
    return tmp_path / "ch.mla", arr


def test_channels_get_their_own_contrast_limits(make_napari_viewer, two_range_channels, tmp_path):
    path, arr = two_range_channels
    stats = MLArray.open(path).meta.stats
    assert len(stats.channels) == 2
    viewer = make_napari_viewer(show=True)
    prob, counts = viewer.open(str(path), plugin=PLUGIN)
    assert prob.contrast_limits[1] <= 1.0 < counts.contrast_limits[0] + 1
    assert prob.contrast_limits == pytest.approx([stats.channels[0].percentile(0.5),
                                                  stats.channels[0].percentile(99.5)])
    assert counts.contrast_limits == pytest.approx([stats.channels[1].percentile(0.5),
                                                    stats.channels[1].percentile(99.5)])
    # rendered: the 0..1 channel's disc (magenta) is bright, not black beside the 0..10000 channel
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    h, w = shot.shape[:2]
    left, right = shot[h // 2, int(w * 0.30)], shot[h // 2, int(w * 0.70)]  # disc centres (x 20 and 60 of 80)
    assert left[0] > 150 and left[2] > 150  # magenta
    assert right[1] > 150  # green
    # the widget shows each channel's range
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MLArray metadata")
    viewer.layers.selection.active = prob
    assert "channel 0: 0.05 – 0.9" in widget.stats.text.value
    assert "channel 1: 100 – 9000" in widget.stats.text.value
    # saving both channel layers back keeps the per-channel statistics
    viewer.layers.selection = {prob, counts}
    viewer.layers.save(str(tmp_path / "back.mla"), selected=True, plugin=PLUGIN)
    back = MLArray.open(tmp_path / "back.mla").meta.stats
    assert [c.max for c in back.channels] == pytest.approx([0.9, 9000.0])


def test_file_without_channel_stats_falls_back_to_file_wide(make_napari_viewer, two_range_channels, tmp_path):
    """Files written before per-channel statistics existed open as before."""
    path, arr = two_range_channels
    ml = MLArray.open(path)
    meta = ml.meta.copy()
    meta.stats.channels = None
    from napari_mlarray.widget._save import save_metadata_in_place

    save_metadata_in_place(str(path), meta)
    assert MLArray.open(path).meta.stats.channels is None
    prob, counts = make_napari_viewer().open(str(path), plugin=PLUGIN)
    assert prob.contrast_limits == counts.contrast_limits
