"""Synthetic data in mlarray.samples: values, alignment of labels and boxes, streaming."""

import numpy as np
import pytest

from mlarray._errors import MetadataError
from mlarray.samples import (
    PHANTOM_CLASSES,
    ct_phantom,
    ct_phantom_labels,
    ct_phantom_slab,
    phantom_boxes,
    slide_phantom_tile,
)

SHAPE = (48, 96, 80)


@pytest.fixture(scope="module")
def volume():
    return ct_phantom(SHAPE, seed=3)


@pytest.fixture(scope="module")
def labels():
    return ct_phantom_labels(SHAPE)


def test_dtype_shape_and_range(volume):
    assert volume.dtype == np.int16 and volume.shape == SHAPE
    assert volume.min() >= -1024 and volume.max() <= 1400
    assert volume.max() > 600  # bone present


def test_air_is_exactly_minus_1000_at_corners(volume):
    for z in (0, -1):
        for y in (0, -1):
            for x in (0, -1):
                assert volume[z, y, x] == -1000


def test_tissue_is_noisy_air_is_constant(volume, labels):
    body = volume != -1000
    assert 0.2 < body.mean() < 0.8
    assert volume[labels == 1].std() > 5


def test_seed_changes_noise_only():
    a, b = ct_phantom((8, 32, 32), seed=0), ct_phantom((8, 32, 32), seed=1)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a == -1000, b == -1000)


def test_labels_align_with_hounsfield_units(volume, labels):
    assert labels.dtype == np.uint8 and labels.shape == SHAPE
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
    hu = {c["id"]: float(volume[labels == c["id"]].mean()) for c in PHANTOM_CLASSES}
    assert 45 < hu[1] < 75       # liver
    assert 100 < hu[2] < 200     # contrast-enhanced kidney
    assert hu[3] > 600           # bone
    assert -900 < hu[4] < -800   # lung
    assert (labels[volume == -1000] == 0).all()


def test_classes_have_rgba_colors():
    assert [c["id"] for c in PHANTOM_CLASSES] == [1, 2, 3, 4]
    for c in PHANTOM_CLASSES:
        assert len(c["color"]) == 4 and all(0 <= v <= 1 for v in c["color"])


def test_boxes_enclose_label_voxels(labels):
    boxes, names, scores = phantom_boxes(SHAPE)
    assert len(boxes) == len(names) == len(scores) > 0
    assert all(s == 1.0 for s in scores)
    by_name = {c["name"]: c["id"] for c in PHANTOM_CLASSES}
    covered = np.zeros(SHAPE, dtype=bool)
    for box, name in zip(boxes, names):
        (z0, z1), (y0, y1), (x0, x1) = box
        region = labels[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] == by_name[name]
        assert region.any()
        # tight: every face of the box touches the organ
        assert region[0].any() and region[-1].any() and region[:, 0].any() and region[:, -1].any()
        covered[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] |= labels[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] == by_name[name]
    np.testing.assert_array_equal(covered, labels > 0)


def test_slab_generation_equals_full(volume):
    parts = [ct_phantom_slab(SHAPE, z0, min(z0 + 7, SHAPE[0]), seed=3) for z0 in range(0, SHAPE[0], 7)]
    np.testing.assert_array_equal(np.concatenate(parts), volume)


def test_float_dtype_and_bad_dtype():
    f = ct_phantom((4, 16, 16), dtype=np.float32)
    assert f.dtype == np.float32
    with pytest.raises(MetadataError):
        ct_phantom((4, 16, 16), dtype=np.uint8)


def test_bad_slab():
    with pytest.raises(MetadataError):
        ct_phantom_slab(SHAPE, 10, 10)


def test_slide_tiles_are_consistent():
    big = slide_phantom_tile(15000, 15256, 15000, 15256, seed=1)
    assert big.dtype == np.uint8 and big.shape == (256, 256)
    np.testing.assert_array_equal(slide_phantom_tile(15100, 15200, 15050, 15150, seed=1), big[100:200, 50:150])


def test_slide_has_background_and_tissue():
    corner = slide_phantom_tile(0, 64, 0, 64)
    assert abs(float(corner.mean()) - 240) < 3
    rng = np.random.default_rng(0)
    tiles = [slide_phantom_tile(y, y + 128, x, x + 128) for y, x in rng.integers(8000, 32000, size=(40, 2))]
    darkest = min(float(t.mean()) for t in tiles)
    assert darkest < 225  # some tile is in tissue
    assert min(int(t.min()) for t in tiles) < 130  # nuclei


def test_slide_tile_outside_slide():
    with pytest.raises(MetadataError):
        slide_phantom_tile(0, 10, 39995, 40005)
