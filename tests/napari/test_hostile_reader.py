"""The napari reader on the crafted files of issue 12 (item 6): every bomb ends in one MLArrayError
from ``viewer.open`` (napari shows it), after reading at most the first frame; memory stays bounded
(the same files under an address-space cap: tests/reliability/test_hostile_*.py, op "napari")."""

from pathlib import Path

import numpy as np
import pytest
from conftest import PLUGIN  # noqa: E402

from mlarray import LimitExceededError, MLArray, MLArrayError
from stress import hostile

CASES = [("meta_boxes", {"n": 3_000_000}), ("meta_classes", {"n": 200_000}), ("meta_levels", {"n": 1_000}),
         ("vlmeta_entry", {"nbytes": 300 << 20}), ("legacy_refs", {"n": 5_000_000}), ("legacy_build", {}),
         ("meta_deep", {"n": 10_000})]


@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] for c in CASES])
def test_bombs_are_one_error_in_napari(make_napari_viewer, tmp_path, name, kw):
    case = hostile.BUILDERS[name](tmp_path, **kw)
    viewer = make_napari_viewer()
    with pytest.raises(MLArrayError) as info:
        viewer.open(case.path, plugin=PLUGIN)
    assert Path(case.path).name in str(info.value)
    assert len(viewer.layers) == 0


def test_huge_declared_array_fails_at_the_first_frame_not_by_allocating(make_napari_viewer, tmp_path):
    case = hostile.huge_declared_array(tmp_path)
    viewer = make_napari_viewer()
    with pytest.raises(LimitExceededError, match="4,096.0 GiB.*max_read_bytes"):
        viewer.open(case.path, plugin=PLUGIN)


def test_a_valid_file_next_to_the_bombs_still_opens(make_napari_viewer, tmp_path):
    p = tmp_path / "ok.mla"
    MLArray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)).save(p)
    viewer = make_napari_viewer()
    layers = viewer.open(p, plugin=PLUGIN)
    assert layers[0].data.shape == (64, 64)
