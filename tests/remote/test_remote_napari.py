"""napari opens a URL through the plugin: the first frame is drawn from the chunks it shows (run under Xvfb)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mlarray import MLArray
from mlarray._file.container import base_offset

pytest.importorskip("napari")


def _chunk_spans(path) -> list[tuple[int, int]]:
    """(start, end) in the file of every base chunk, in chunk order."""
    import blosc2

    off = base_offset(str(path))
    frame = blosc2.open(str(path), offset=off)
    raw = path.read_bytes()
    spans = []
    for i in range(frame.schunk.nchunks):
        c = frame.schunk.get_chunk(i)
        start = raw.find(c, off)
        spans.append((start, start + len(c)))
    return spans


def _ranges(rec):
    out = []
    for _, r in rec.requests:
        a, b = r.removeprefix("bytes=").split("-")
        out.append((int(a), int(b) + 1))
    return out


def test_viewer_open_url_draws_the_first_frame_from_the_chunks_shown(make_napari_viewer, http_server, tmp_path):
    url, rec = http_server
    z, y, x = np.mgrid[:64, :384, :384]
    arr = ((np.sin(x / 20) + np.cos(y / 30)) * 500 + z * 10).astype(np.int16)
    path = tmp_path / "ct.mla"
    MLArray(arr, spacing=[2.0, 1.0, 1.0], chunk_size=[32, 64, 64]).save(path, pyramid=True)
    spans = _chunk_spans(path)  # 2 x 6 x 6 chunks; z-chunk 1 holds slices 32..63

    viewer = make_napari_viewer(show=True)  # a hidden canvas renders black under Xvfb
    rec.reset()
    layers = viewer.open(f"{url}/ct.mla", plugin="mlarray")
    assert len(layers) == 1 and layers[0].multiscale
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    first = (len(rec.requests), rec.nbytes)
    # the picture, not a blank canvas: what the local file draws in the same viewer
    local_layer, = viewer.open(str(path), plugin="mlarray")
    viewer.layers.selection.active = local_layer
    layers[0].visible = False
    local = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    viewer.layers.remove(local_layer)
    layers[0].visible = True
    assert shot.std() > 20
    np.testing.assert_array_equal(shot, local)
    # the first frame (slice 31 of 64) fetched no chunk of the other half of the volume
    size = os.path.getsize(path)
    fetched = [(a, b) for a, b in _ranges(rec) if b != size]  # not the open's read of the index and trailer
    other_half = spans[36:]
    assert not any(a < e and s < b for a, b in fetched for s, e in other_half)
    assert first[1] < 0.6 * os.path.getsize(path)
    # moving the slider into the other half fetches its chunks only
    rec.reset()
    viewer.dims.set_current_step(0, 50)
    viewer.screenshot(canvas_only=True, flash=False)
    fetched = _ranges(rec)
    # (neighbouring chunks come in one request: a request may cover several of the other half's chunks)
    assert fetched and all(other_half[0][0] <= a and b <= other_half[-1][1] + 8192 or a >= spans[-1][1]
                           or a < spans[0][0] for a, b in fetched)
    print(f"first frame: {first[0]} requests, {first[1]} of {os.path.getsize(path)} bytes")


def test_reader_hook_claims_urls_of_mla_files_only():
    from napari_mlarray import napari_get_reader, read_mla

    assert napari_get_reader("https://host/data/ct.mla") is read_mla
    assert napari_get_reader("https://host/data/ct.mla?X-Amz-Signature=abc") is read_mla
    assert napari_get_reader("s3://bucket/ct.mla") is read_mla
    assert napari_get_reader("https://host/data/ct.nii.gz?name=x.mla") is None


def test_napari_chooses_the_plugin_for_a_url(make_napari_viewer, http_server, tmp_path):
    url, rec = http_server
    MLArray(np.arange(8 * 32 * 32, dtype=np.uint16).reshape(8, 32, 32)).save(tmp_path / "small.mla")
    viewer = make_napari_viewer()
    layer, = viewer.open(f"{url}/small.mla", plugin=None)  # no plugin named: napari picks the reader, as its CLI does
    assert layer.name == "small" and layer.data.shape == (8, 32, 32)


def _slide(tmp_path):
    """A 4096² uint8 slide in 512² chunks with its pyramid (5 levels): napari shows a coarser level."""
    y, x = np.mgrid[:4096, :4096]
    arr = ((np.sin(x / 200) + np.cos(y / 300)) * 60 + 128 + (x * y) % 7).astype(np.uint8)
    path = tmp_path / "slide.mla"
    MLArray(arr, chunk_size=[512, 512]).save(path, pyramid=True)
    return path


def test_a_slow_url_opens_with_progress_while_napari_repaints(make_napari_viewer, http_server, tmp_path):
    from napari.utils import progress
    from qtpy.QtCore import QTimer

    url, rec = http_server
    _slide(tmp_path)
    viewer = make_napari_viewer(show=True)
    rec.delay = 0.2  # the open's 4 round trips take 0.8 s
    seen: list = []
    state = {"opening": False}

    def probe():  # a timer: it runs only while Qt's event loop runs
        if state["opening"]:
            seen.append(sorted(p.desc for p in progress._all_instances))

    timer = QTimer()
    timer.timeout.connect(probe)
    timer.start(20)
    state["opening"] = True
    try:
        layer, = viewer.open(f"{url}/slide.mla", plugin="mlarray")
    finally:
        state["opening"] = False
        timer.stop()
    assert layer.multiscale and layer.data.shape == (4096, 4096)
    assert len(seen) >= 5  # repainting went on during the open
    assert any(f"Opening {url}/slide.mla" in descs for descs in seen)
    assert not any(p.desc == f"Opening {url}/slide.mla" for p in progress._all_instances)  # closed when done


def test_async_slicing_draws_the_first_frame_from_the_header_and_the_shown_level(make_napari_viewer, http_server,
                                                                                 tmp_path, qtbot):
    from napari.settings import get_settings

    url, rec = http_server
    path = _slide(tmp_path)
    size = os.path.getsize(path)
    levels = MLArray.open(path).meta.to_mapping()["pyramid"]["levels"]  # offset/nbytes of levels 1..4
    spans = {k: (lv["offset"], lv["offset"] + lv["nbytes"]) for k, lv in enumerate(levels, start=1)}
    base = base_offset(str(path))
    settings = get_settings()
    before = settings.experimental.async_
    settings.experimental.async_ = True
    try:
        viewer = make_napari_viewer(show=True)
        rec.delay = 0.2
        rec.reset()
        layer, = viewer.open(f"{url}/slide.mla", plugin="mlarray")
        assert not layer.loaded  # returned before the shown level's chunks arrived: slicing goes on in a thread
        qtbot.waitUntil(lambda: layer.loaded, timeout=30000)
        shown = layer.data_level
        ranges = _ranges(rec)
        remote = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
        local_layer, = viewer.open(str(path), plugin="mlarray")
        qtbot.waitUntil(lambda: local_layer.loaded, timeout=30000)
        layer.visible = False
        local = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    finally:
        settings.experimental.async_ = before
    assert shown not in (0, len(levels))  # a level between the base and the coarsest one (the thumbnail's)
    assert remote.std() > 20
    np.testing.assert_array_equal(remote, local)
    allowed = [spans[shown], spans[len(levels)]]  # the shown level, the thumbnail's (napari reads it too)

    def in_allowed(a, b):
        return (a == 0 and b <= 65536 or a == base and b - a <= 8192 or b == size
                or any(s <= a and b <= e for s, e in allowed))

    assert all(in_allowed(a, b) for a, b in ranges), (shown, ranges)
    assert any(spans[shown][0] <= a < spans[shown][1] for a, b in ranges)
    print(f"first frame at level {shown}: {len(ranges)} requests, {rec.nbytes} of {size} bytes")
