"""The save-time filter trial: ``MLArray.save`` compresses the array's central chunk with each
candidate pipeline of its profile and keeps the one that makes it smallest (mlarray.layout)."""

import math
import os

import blosc2
import numpy as np
import pytest

from mlarray import MLArray

SHAPE = (32, 96, 96)


def _repeated_values_f32():
    """float32 whose whole values repeat in runs of 8 along the rows but whose bytes look random:
    unfiltered LZ4 matches whole runs, a byte shuffle scatters each value over four planes."""
    rng = np.random.default_rng(0)
    palette = rng.uniform(-1000, 1000, 4096).astype(np.float32)
    return palette[np.repeat(rng.integers(0, 4096, (*SHAPE[:2], SHAPE[2] // 8)), 8, axis=2)]


def _noisy_ct_i16():
    """Smooth anatomy plus noise, rounded to int16: the high byte plane is nearly constant."""
    rng = np.random.default_rng(1)
    z, y, x = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    return np.rint(40 * np.sin(x / 9.0) + 30 * np.cos(y / 7.0) + 10 * z / 32 + rng.normal(0, 3, SHAPE)).astype(np.int16)


def _zscored_f32():
    """The int16 data z-scored to float32 (nnU-Net's CT normalisation): quantised, short repeats."""
    ct = _noisy_ct_i16().astype(np.float32)
    return ((ct - ct.mean()) / ct.std()).astype(np.float32)


def _forced(arr, path, filters, splitmode, codec="LZ4HC", clevel=6, **save):
    """The same save with the pipeline fixed by the caller (no trial)."""
    cp = blosc2.CParams(codec=blosc2.Codec[codec], clevel=clevel, filters=[blosc2.Filter[f] for f in filters],
                        splitmode=blosc2.SplitMode[splitmode])
    MLArray(arr, cparams=cp).save(path, **save)
    return os.path.getsize(path)


def test_default_save_keeps_split_shuffle_where_it_compresses_best(tmp_path):
    arr = _noisy_ct_i16()
    MLArray(arr).save(tmp_path / "a.mla")
    f = MLArray.open(tmp_path / "a.mla")
    assert f.meta.blosc2.codec == "LZ4HC" and f.meta.blosc2.filters == ["SHUFFLE"]
    assert os.path.getsize(tmp_path / "a.mla") < _forced(arr, tmp_path / "n.mla", ["NOFILTER"], "NEVER_SPLIT")
    np.testing.assert_array_equal(f[...], arr)


def test_default_save_drops_the_filter_when_whole_values_repeat(tmp_path):
    arr = _repeated_values_f32()
    MLArray(arr).save(tmp_path / "a.mla")
    f = MLArray.open(tmp_path / "a.mla")
    assert f.meta.blosc2.codec == "LZ4HC" and f.meta.blosc2.filters == ["NOFILTER"]
    # the unfiltered candidate brings larger blocks (LZ4 finds repeats only inside a block)
    default_blocks = MLArray.open(_save_forced_path(arr, tmp_path)).meta.blosc2.block_size
    assert math.prod(f.meta.blosc2.block_size) == 4 * math.prod(default_blocks)
    assert f.meta.blosc2.block_size[0] == default_blocks[0]  # never deeper along the slice axis
    split = os.path.getsize(tmp_path / "forced.mla")
    assert os.path.getsize(tmp_path / "a.mla") < 0.8 * split
    np.testing.assert_array_equal(f[...], arr)


def _save_forced_path(arr, tmp_path):
    _forced(arr, tmp_path / "forced.mla", ["SHUFFLE"], "ALWAYS_SPLIT")
    return tmp_path / "forced.mla"


def test_default_save_keeps_split_shuffle_when_unfiltered_matches_are_short(tmp_path):
    """z-scored quantised floats compress smaller unfiltered, but by one short match per value,
    which LZ4 decodes at about half the split pipeline's speed: the default profile keeps reads fast."""
    arr = _zscored_f32()
    MLArray(arr).save(tmp_path / "a.mla")
    assert MLArray.open(tmp_path / "a.mla").meta.blosc2.filters == ["SHUFFLE"]
    # ... while the unfiltered file would indeed be smaller (the trial saw it and declined)
    unfiltered = _forced(arr, tmp_path / "n.mla", ["NOFILTER"], "NEVER_SPLIT")
    assert unfiltered < os.path.getsize(tmp_path / "a.mla")


@pytest.mark.parametrize("make, expected", [(_noisy_ct_i16, ["SHUFFLE", "BYTEDELTA"]),
                                            (_zscored_f32, ["NOFILTER"]),
                                            (_repeated_values_f32, ["NOFILTER"])])
def test_training_save_keeps_the_pipeline_that_compresses_smallest(tmp_path, make, expected):
    arr = make()
    MLArray(arr).save(tmp_path / "t.mla", profile="training")
    f = MLArray.open(tmp_path / "t.mla")
    assert f.meta.blosc2.codec == "ZSTD" and f.meta.blosc2.filters == expected
    chosen = os.path.getsize(tmp_path / "t.mla")
    for i, other in enumerate((["SHUFFLE"], ["SHUFFLE", "BYTEDELTA"], ["NOFILTER"])):
        if other != expected:
            alt = _forced(arr, tmp_path / f"o{i}.mla", other, "NEVER_SPLIT", codec="ZSTD", clevel=8, profile="training")
            assert chosen < alt, other
    np.testing.assert_array_equal(f[...], arr)


def test_caller_blocks_are_kept_by_every_candidate(tmp_path):
    arr = _repeated_values_f32()
    MLArray(arr, chunk_size=[16, 32, 64], block_size=[4, 8, 32]).save(tmp_path / "a.mla")
    assert MLArray.open(tmp_path / "a.mla").meta.blosc2.block_size == [4, 8, 32]


def test_in_memory_array_and_its_file_make_the_same_choice(tmp_path):
    """``MLArray(array)`` compresses in memory with the default profile's trial, so the default save
    copies those chunks instead of encoding them again; both record the same pipeline and blocks."""
    arr = _repeated_values_f32()
    m = MLArray(arr)
    assert m.meta.blosc2.filters == ["NOFILTER"]
    m.save(tmp_path / "a.mla")
    f = MLArray.open(tmp_path / "a.mla")
    assert (f.meta.blosc2.filters, f.meta.blosc2.block_size) == (m.meta.blosc2.filters, m.meta.blosc2.block_size)
    np.testing.assert_array_equal(f[...], arr)
