"""Rules of mlarray.layout: derived and explicit chunk/block shapes, cparams."""

import blosc2
import numpy as np
import pytest

from mlarray._errors import MetadataError
from mlarray.layout import BLOCK_BYTES, CHUNK_BYTES, default_cparams, derive_layout, resolve_layout, to_blosc2_cparams


def test_default_3d_ct_layout():
    chunks, blocks, patch = resolve_layout((512, 512, 512), np.int16, None)
    assert patch == [192, 192, 192]
    assert chunks == [32, 64, 64]
    assert blocks == [8, 16, 64]


def test_blocks_are_thin_along_the_slice_axis_of_volumes_only():
    # a 2D loader reading one slice decodes at most BLOCK_SLICE_DEPTH slices per block
    from mlarray.layout import BLOCK_SLICE_DEPTH

    for shape, itemsize, spatial in (((160, 256, 256), 2, None), ((197, 233, 189), 4, None),
                                     ((4, 128, 160, 160), 2, [1, 2, 3])):
        _, blocks = derive_layout(shape, itemsize, spatial, 192)
        assert blocks[(spatial or [0])[0]] == BLOCK_SLICE_DEPTH
    _, blocks = derive_layout((1955, 1841), 2, None, 192)  # a 2D image keeps square-ish blocks
    assert blocks[0] > BLOCK_SLICE_DEPTH
    _, blocks = derive_layout((2, 512, 512), 2, None, 192)  # fewer slices than the depth
    assert blocks[0] == 2 and np.prod(blocks) * 2 <= BLOCK_BYTES


def test_training_profile_layout_uses_its_budgets():
    from mlarray.layout import TRAINING_BLOCK_BYTES, TRAINING_CHUNK_BYTES

    chunks, blocks = derive_layout((160, 256, 256), 2, None, 192, profile="training")
    assert BLOCK_BYTES < np.prod(blocks) * 2 <= TRAINING_BLOCK_BYTES
    assert CHUNK_BYTES < np.prod(chunks) * 2 <= TRAINING_CHUNK_BYTES


@pytest.mark.parametrize("shape,itemsize,spatial,patch", [
    ((512, 512, 512), 2, None, 192),
    ((512, 512, 512), 4, [0, 1, 2], 128),
    ((100, 512, 512), 2, None, [32, 192, 192]),
    ((40000, 40000), 1, None, 512),
    ((40000, 40000), 1, None, 192),
    ((40000, 40000, 3), 1, [0, 1], 512),
    ((3, 256, 256, 256), 2, [1, 2, 3], 192),
    ((5, 7, 9), 2, None, 192),
])
def test_derived_layout_invariants(shape, itemsize, spatial, patch):
    chunks, blocks = derive_layout(shape, itemsize, spatial, patch)
    assert len(chunks) == len(blocks) == len(shape)
    assert all(1 <= b <= c <= max(1, n) for b, c, n in zip(blocks, chunks, shape))
    assert np.prod(blocks) * itemsize <= BLOCK_BYTES
    assert np.prod(chunks) * itemsize <= CHUNK_BYTES


def test_clipped_to_small_shape():
    chunks, blocks = derive_layout((5, 7, 9), 2, None, 192)
    assert chunks == [5, 7, 9] and blocks == [5, 7, 9]


def test_channel_first_axis_gets_one():
    chunks, blocks, _ = resolve_layout((3, 256, 256, 256), np.int16, [1, 2, 3], 192)
    assert chunks[0] == 1 and blocks[0] == 1
    assert chunks[1:] == [32, 64, 64]


def test_small_trailing_channel_axis_kept_whole():
    chunks, blocks, _ = resolve_layout((40000, 40000, 3), np.uint8, [0, 1], 512)
    assert chunks[2] == 3 and blocks[2] == 3


def test_2d_slide_layout_respects_patch():
    chunks, blocks, patch = resolve_layout((40000, 40000), np.uint8, None, 512)
    assert patch == [512, 512]
    assert all(c <= 512 for c in chunks) and all(b <= 512 for b in blocks)


def test_int_patch_is_isotropic_and_sequence_per_axis():
    assert resolve_layout((64, 64, 64), np.int16, None, 32)[2] == [32, 32, 32]
    assert resolve_layout((64, 64, 64), np.int16, None, (16, 32, 32))[2] == [16, 32, 32]


def test_wrong_patch_length_names_field():
    with pytest.raises(MetadataError) as err:
        resolve_layout((64, 64, 64), np.int16, None, [32, 32])
    assert err.value.field == "patch_size"


@pytest.mark.parametrize("bad", [0, -4, [32, 0, 32], "big", 1.5])
def test_bad_patch_values_name_field(bad):
    with pytest.raises(MetadataError) as err:
        resolve_layout((64, 64, 64), np.int16, None, bad)
    assert err.value.field == "patch_size"


def test_none_means_blosc2_decides():
    assert resolve_layout((64, 64), np.uint8, None, None) == (None, None, None)


def test_explicit_chunks_and_blocks_are_validated_and_clipped():
    chunks, blocks, patch = resolve_layout((10, 100, 100), np.int16, None, None, [32, 64, 64], [8, 32, 32])
    assert chunks == [10, 64, 64] and blocks == [8, 32, 32] and patch is None
    chunks, blocks, _ = resolve_layout((10, 100, 100), np.int16, None, None, [32, 64, 64])
    assert chunks == [10, 64, 64] and blocks is None


def test_default_patch_yields_to_explicit_chunks():
    chunks, blocks, patch = resolve_layout((64, 64, 64), np.int16, None, "default", [32, 32, 32], [16, 16, 16])
    assert chunks == [32, 32, 32] and blocks == [16, 16, 16] and patch is None


@pytest.mark.parametrize("chunk,block,field", [
    ([32, 32], None, "chunk_size"),
    ([32, 0, 32], None, "chunk_size"),
    ([32, -1, 32], None, "chunk_size"),
    ([32, 32, 32], [16, 16], "block_size"),
    ([32, 32, 32], [16, 0, 16], "block_size"),
    ([32, 32, 32], [16, 64, 16], "block_size"),
    (None, [16, 16, 16], "block_size"),
])
def test_explicit_errors_name_field(chunk, block, field):
    with pytest.raises(MetadataError) as err:
        resolve_layout((64, 64, 64), np.int16, None, None, chunk, block)
    assert err.value.field == field


def test_explicit_patch_with_chunks_is_ambiguous():
    with pytest.raises(MetadataError) as err:
        resolve_layout((64, 64, 64), np.int16, None, 32, [32, 32, 32])
    assert err.value.field == "patch_size"


def test_bad_spatial_axes():
    with pytest.raises(MetadataError) as err:
        derive_layout((4, 64, 64), 2, [1, 1], 32)
    assert err.value.field == "spatial_axes"


def test_default_cparams_are_plain_names():
    d = default_cparams(np.int16)
    assert d == {"codec": "LZ4HC", "clevel": 6, "filters": ["SHUFFLE"], "splitmode": "ALWAYS_SPLIT"}
    assert default_cparams(np.uint8)["filters"] == ["NOFILTER"]
    cp = to_blosc2_cparams({**d, "nthreads": 1})
    assert cp.codec == blosc2.Codec.LZ4HC and cp.clevel == 6 and cp.nthreads == 1
    assert blosc2.Filter.SHUFFLE in cp.filters
    assert cp.splitmode == blosc2.SplitMode.ALWAYS_SPLIT


def test_splitmode_names_and_stored_in_frame():
    assert to_blosc2_cparams({"splitmode": "never_split"}).splitmode == blosc2.SplitMode.NEVER_SPLIT
    with pytest.raises(MetadataError) as err:
        to_blosc2_cparams({"splitmode": "SOMETIMES"})
    assert err.value.field == "cparams.splitmode"
    data = np.arange(64 * 64, dtype=np.int16).reshape(64, 64)
    arr = blosc2.asarray(data, cparams=to_blosc2_cparams(default_cparams(data.dtype)))
    assert arr.schunk.cparams.splitmode == blosc2.SplitMode.ALWAYS_SPLIT


def test_bad_codec_name():
    with pytest.raises(MetadataError) as err:
        to_blosc2_cparams({"codec": "NOPE"})
    assert err.value.field == "cparams.codec"


@pytest.mark.parametrize("shape,dtype,spatial,patch", [
    ((40, 70, 90), np.int16, None, 192),
    ((3, 30, 40, 50), np.float32, [1, 2, 3], 16),
    ((300, 500), np.uint8, None, 512),
    ((200, 300, 3), np.uint8, [0, 1], 64),
])
def test_blosc2_accepts_layout_and_roundtrips(shape, dtype, spatial, patch):
    chunks, blocks, _ = resolve_layout(shape, dtype, spatial, patch)
    data = (np.arange(np.prod(shape)) % 251).astype(dtype).reshape(shape)
    arr = blosc2.asarray(data, chunks=chunks, blocks=blocks, cparams=to_blosc2_cparams(default_cparams(dtype)))
    assert list(arr.chunks) == chunks and list(arr.blocks) == blocks
    np.testing.assert_array_equal(arr[...], data)
