"""Blosc2 chunk and block shapes (and compression parameters) chosen for patch-based training.

Training loaders open a case, read one patch (3D 128³, a 2D slice 1x192², or a small 8x64²) and
let go. Blosc2 decompresses only the blocks a slice touches, then copies the requested part out
row by row. The rules below were chosen on the corpus of ``benchmarks/corpus.py`` (real volumes
shipped in nilearn and pydicom-data, synthetic CT at three noise levels, z-scored float32, label
maps, a 4-channel MR series, a slide) with ``benchmarks/codec_sweep.py`` and
``benchmarks/loader_reads.py``, single-threaded:

* Blocks of ~16 KiB whose last (contiguous) axis is 128 bytes long (64 int16), at most
  ``BLOCK_SLICE_DEPTH`` = 8 deep along the first spatial axis of a volume: 8x16x64 for int16,
  8x16x32 for float32. A 2D loader reads one slice of that axis, so a deep block decodes many
  unused slices for it; shorter rows turn the copy-out into many tiny ``memcpy`` calls; bigger
  blocks decode more unused voxels at the patch border.
* Chunks of ~256 KiB (32x64x64 int16): the chunk-sized scratch buffer the blocks are decoded
  into stays in L2; chunks never exceed the patch size on an axis.
* LZ4HC 6 + SHUFFLE with ``splitmode=ALWAYS_SPLIT``: each byte plane is compressed on its own,
  so the noisy low bytes of CT data are stored raw (decoded at ``memcpy`` speed) while the high
  bytes shrink to almost nothing. ZSTD decodes far slower; plain LZ4 decodes junk matches in
  the noise; BITSHUFFLE and higher levels cost more than they save.
* The filter is chosen per array at save time by trial, as nnU-Net 2.8 does: the central chunk is
  compressed with each candidate of :func:`codec_candidates` and the smallest wins
  (:func:`choose_cparams`). The default profile's only alternative is LZ4HC 6 without a filter on
  4x larger blocks, for data whose whole values repeat (coarsely quantised floats); it must be
  clearly smaller and reach 3:1, because unfiltered LZ4 with short matches decodes at about half
  the split pipeline's speed.

The measured comparisons behind each rule are in ``docs/benchmarks.md`` ("Layout choices").

``profile="training"`` (``MLArray.save(..., profile="training")``) is the size-first choice for
training copies: ZSTD 8 without byte-plane splitting on 64 KiB blocks / 1 MiB chunks, and the
filter pipeline that compresses the array's central chunk best (SHUFFLE, SHUFFLE+BYTEDELTA or none;
none or BITSHUFFLE for bytes). Its files are smaller than nnU-Net 2.8's LZ4HC store; its reads are
ZSTD-bound (docs/benchmarks.md, loader table).

Non-spatial axes (channels, time) get chunk = block = 1 so that reading one channel
never decodes the others, except small trailing axes (<= 4, e.g. interleaved RGB) that
are kept whole: splitting them would scatter every pixel over 3-4 chunks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TypeGuard, TypeVar

import blosc2
import numpy as np
from numpy.typing import DTypeLike

from ._errors import MetadataError

__all__ = [
    "DEFAULT_PATCH_SIZE",
    "BLOCK_BYTES",
    "CHUNK_BYTES",
    "BLOCK_ROW_BYTES",
    "BLOCK_SLICE_DEPTH",
    "SMALL_TRAILING_AXIS",
    "derive_layout",
    "resolve_layout",
    "default_cparams",
    "profile_cparams",
    "codec_candidates",
    "choose_cparams",
    "trial_slab_bytes",
    "check_profile",
    "PROFILES",
    "to_blosc2_cparams",
]

DEFAULT_PATCH_SIZE = 192
BLOCK_BYTES = 16 * 2**10
CHUNK_BYTES = 256 * 2**10
BLOCK_ROW_BYTES = 128
BLOCK_SLICE_DEPTH = 8
PROFILES = ("default", "training")
TRAINING_BLOCK_BYTES = 64 * 2**10
TRAINING_CHUNK_BYTES = 1024 * 2**10
SMALL_TRAILING_AXIS = 4


# ----------------------------------------------------------------------------- derivation


def derive_layout(
    shape: Sequence[int],
    itemsize: int,
    spatial_axes: Sequence[int] | None,
    patch_size: int | Sequence[int] = DEFAULT_PATCH_SIZE,
    profile: str = "default",
) -> tuple[list[int], list[int]]:
    """Return ``(chunks, blocks)`` for an array of ``shape`` read in patches of ``patch_size``.

    ``spatial_axes`` are the axis indices of the image grid (None: all axes);
    ``patch_size`` is an int (isotropic) or one size per spatial axis;
    ``profile``: ``"default"`` or ``"training"`` (larger blocks for the entropy coder, see
    :func:`profile_cparams`).
    """
    block_bytes, chunk_bytes = _budgets(profile)
    shape = _check_shape(shape)
    spatial = _check_spatial_axes(spatial_axes, len(shape))
    patch = _patch_list(patch_size, len(spatial))
    itemsize = int(itemsize)
    if itemsize < 1:
        raise MetadataError("itemsize", itemsize, "must be a positive number of bytes")
    fixed = _non_spatial_sizes(shape, spatial)
    blocks = _grow_blocks(shape, spatial, patch, fixed, itemsize, block_bytes)
    chunks = _grow_chunks(shape, spatial, patch, blocks, itemsize, chunk_bytes)
    return chunks, [min(b, c) for b, c in zip(blocks, chunks)]


def _non_spatial_sizes(shape: tuple[int, ...], spatial: list[int]) -> list[int]:
    """Chunk/block size of every axis before growth: 1, or whole for small trailing axes."""
    last_spatial = max(spatial) if spatial else -1
    sizes = [1] * len(shape)
    for axis, n in enumerate(shape):
        if axis not in spatial and axis > last_spatial and n <= SMALL_TRAILING_AXIS:
            sizes[axis] = max(1, n)
    return sizes


def _grow_blocks(shape: tuple[int, ...], spatial: list[int], patch: list[int], start: list[int], itemsize: int,
                 block_bytes: int) -> list[int]:
    """Blocks: last spatial axis to ``BLOCK_ROW_BYTES`` first (long rows), then the others in turn.

    No block axis exceeds the patch: a block longer than the patch is always partly wasted.
    """
    blocks = list(start)
    budget = max(1, block_bytes // itemsize)
    if not spatial:
        return blocks
    limits = dict(zip(spatial, patch))
    row_axis = spatial[-1]
    row_items = max(1, BLOCK_ROW_BYTES // itemsize)
    _double_while(blocks, [row_axis], shape, budget, limits={row_axis: min(row_items, limits[row_axis])})
    if len(spatial) >= 3:  # thin along the slice axis first: 2D loaders read one slice of it
        _double_while(blocks, spatial[1:-1], shape, budget // BLOCK_SLICE_DEPTH, limits)
        _double_while(blocks, spatial[:1], shape, budget, {**limits, spatial[0]: BLOCK_SLICE_DEPTH})
    _double_while(blocks, spatial[:-1], shape, budget, limits)
    _double_while(blocks, spatial, shape, budget, limits)  # e.g. 2D, or other axes clipped by shape
    return blocks


def _grow_chunks(shape: tuple[int, ...], spatial: list[int], patch: list[int], blocks: list[int], itemsize: int,
                 chunk_bytes: int) -> list[int]:
    """Chunks: double the axis with the smallest chunk/patch ratio, up to the patch and the budget."""
    chunks = list(blocks)
    budget = max(1, chunk_bytes // itemsize)
    limits = {axis: max(p, blocks[axis]) for axis, p in zip(spatial, patch)}
    while True:
        growable = [a for a in spatial
                    if chunks[a] < min(shape[a], limits[a]) and _size_if_doubled(chunks, a, shape, limits) <= budget]
        if not growable:
            return chunks
        axis = min(growable, key=lambda a: (chunks[a] / limits[a], -a))
        chunks[axis] = min(chunks[axis] * 2, shape[axis], limits[axis])


def _double_while(sizes: list[int], axes: Sequence[int], shape: tuple[int, ...], budget: int,
                  limits: Mapping[int, int] | None = None) -> None:
    """Double ``axes`` round-robin (first listed first) while within shape, limits and item budget."""
    limits = limits or {}
    grew = True
    while grew:
        grew = False
        for axis in axes:
            cap = min(shape[axis], limits.get(axis, shape[axis]))
            if sizes[axis] < cap and _size_if_doubled(sizes, axis, shape, limits) <= budget:
                sizes[axis] = min(sizes[axis] * 2, cap)
                grew = True


def _size_if_doubled(sizes: Sequence[int], axis: int, shape: tuple[int, ...], limits: Mapping[int, int]) -> int:
    cap = min(shape[axis], limits.get(axis, shape[axis]))
    trial = list(sizes)
    trial[axis] = min(trial[axis] * 2, max(1, cap))
    return math.prod(trial)


# ----------------------------------------------------------------------------- resolution


def resolve_layout(
    shape: Sequence[int],
    dtype: DTypeLike,
    spatial_axes: Sequence[int] | None,
    patch_size: str | int | Sequence[int] | None = "default",
    chunk_size: Sequence[int] | None = None,
    block_size: Sequence[int] | None = None,
    profile: str = "default",
) -> tuple[list[int] | None, list[int] | None, list[int] | None]:
    """Turn the user's layout options into ``(chunks, blocks, patch_size_list)``.

    * ``patch_size="default"`` -> 192 per spatial axis, unless ``chunk_size`` is given,
      in which case the explicit sizes win (the default is only a default);
    * int -> isotropic patch; sequence -> one size per spatial axis;
    * None with ``chunk_size`` (and optionally ``block_size``) -> those, validated and
      clipped to the shape; blocks None lets Blosc2 choose them;
    * None and nothing else -> ``(None, None, None)``: let Blosc2 choose everything.

    An explicit patch size together with explicit chunk/block sizes is ambiguous and
    raises :class:`MetadataError`.
    """
    shape = _check_shape(shape)
    itemsize = np.dtype(dtype).itemsize
    explicit = chunk_size is not None or block_size is not None
    if isinstance(patch_size, str):
        if patch_size != "default":
            raise MetadataError("patch_size", patch_size, "the only string accepted is 'default'",
                                "pass 'default', an int, one int per spatial axis, or None")
        if explicit:
            return (*_explicit_layout(shape, chunk_size, block_size), None)
        patch_size = DEFAULT_PATCH_SIZE
    elif patch_size is not None and explicit:
        raise MetadataError("patch_size", patch_size, "cannot be combined with chunk_size/block_size",
                            "pass either a patch size or explicit chunk_size/block_size (patch_size=None)")
    if patch_size is None:
        if explicit:
            return (*_explicit_layout(shape, chunk_size, block_size), None)
        return None, None, None
    spatial = _check_spatial_axes(spatial_axes, len(shape))
    patch = _patch_list(patch_size, len(spatial))
    chunks, blocks = derive_layout(shape, itemsize, spatial, patch, profile)
    return chunks, blocks, patch


def _explicit_layout(shape: tuple[int, ...], chunk_size: Sequence[int] | None,
                     block_size: Sequence[int] | None) -> tuple[list[int] | None, list[int] | None]:
    """Validate user chunk/block sizes and clip them to the shape (blocks to the chunks)."""
    if chunk_size is None:
        raise MetadataError("block_size", block_size, "needs chunk_size as well",
                            "pass chunk_size too, or neither and let a patch size decide")
    chunks = _positive_sizes("chunk_size", chunk_size, len(shape))
    clipped = [max(1, min(c, n)) for c, n in zip(chunks, shape)]
    if block_size is None:
        return clipped, None
    blocks = _positive_sizes("block_size", block_size, len(shape))
    if any(b > c for b, c in zip(blocks, chunks)):
        raise MetadataError("block_size", list(blocks), f"must not exceed chunk_size {list(chunks)} on any axis",
                            "use blocks that fit inside a chunk (Blosc2 splits chunks into blocks)")
    return clipped, [min(b, c) for b, c in zip(blocks, clipped)]


# ----------------------------------------------------------------------------- validation


def _is_int(value: object) -> TypeGuard[int | np.integer]:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _positive_sizes(field: str, value: object, ndim: int) -> list[int]:
    if _is_int(value) or isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        raise MetadataError(field, value, f"must be a sequence of {ndim} positive integers (one per axis)",
                            "pass e.g. [1, 64, 64, 64]")
    values = list(value)
    if len(values) != ndim:
        raise MetadataError(field, value, f"must have {ndim} values (one per array axis), got {len(values)}",
                            "give a size for every axis, including channel axes")
    if not all(_is_int(v) and v > 0 for v in values):
        raise MetadataError(field, value, "must contain positive integers only", "sizes are counted in elements, >= 1")
    return [int(v) for v in values]


def _patch_list(patch_size: int | Sequence[int], n_spatial: int) -> list[int]:
    if _is_int(patch_size):
        if patch_size <= 0:
            raise MetadataError("patch_size", patch_size, "must be positive", "pass e.g. 192")
        return [int(patch_size)] * n_spatial
    values = _positive_sizes_any("patch_size", patch_size)
    if len(values) != n_spatial:
        raise MetadataError("patch_size", patch_size,
                            f"must have {n_spatial} values (one per spatial axis), got {len(values)}",
                            "pass one int per spatial axis, or a single int for an isotropic patch")
    return values


def _positive_sizes_any(field: str, value: object) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        raise MetadataError(field, value, "must be an int or a sequence of ints", "pass e.g. 192 or [64, 192, 192]")
    values = list(value)
    if not all(_is_int(v) and v > 0 for v in values):
        raise MetadataError(field, value, "must contain positive integers only", "pass e.g. [64, 192, 192]")
    return [int(v) for v in values]


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    try:
        out = tuple(int(n) for n in shape)
    except TypeError:
        raise MetadataError("shape", shape, "must be a sequence of integers") from None
    if not out or any(n < 0 for n in out):
        raise MetadataError("shape", out, "must have at least one axis and no negative sizes")
    return out


def _check_spatial_axes(spatial_axes: Sequence[int] | None, ndim: int) -> list[int]:
    if spatial_axes is None:
        return list(range(ndim))
    axes = []
    for a in spatial_axes:
        if not _is_int(a) or not -ndim <= a < ndim:
            raise MetadataError("spatial_axes", list(spatial_axes), f"must be axis indices in [-{ndim}, {ndim})")
        axes.append(int(a) % ndim)
    if len(set(axes)) != len(axes) or not axes:
        raise MetadataError("spatial_axes", list(spatial_axes), "must be non-empty without repeated axes")
    return sorted(axes)


# ----------------------------------------------------------------------------- compression

E = TypeVar("E", bound=Enum)


def default_cparams(dtype: DTypeLike | None = None) -> dict:
    """Compression parameters for patch reads, as plain JSON-able values (see module docstring).

    Byte-sized data gets no shuffle (there is nothing to reorder). ``splitmode``
    ALWAYS_SPLIT compresses every byte plane separately (no effect on 1-byte data).
    """
    itemsize = np.dtype(dtype).itemsize if dtype is not None else 2
    filters = ["SHUFFLE"] if itemsize > 1 else ["NOFILTER"]
    return {"codec": "LZ4HC", "clevel": 6, "filters": filters, "splitmode": "ALWAYS_SPLIT"}


def check_profile(profile: str | None) -> str:
    if profile is None:
        return "default"
    if profile not in PROFILES:
        raise MetadataError("profile", profile, f"must be one of {list(PROFILES)}",
                            "use 'training' for size-first training copies without a pyramid")
    return profile


def _budgets(profile: str) -> tuple[int, int]:
    if check_profile(profile) == "training":
        return TRAINING_BLOCK_BYTES, TRAINING_CHUNK_BYTES
    return BLOCK_BYTES, CHUNK_BYTES


# The default profile's NOFILTER candidate gets blocks this many times larger (grown inside the chunk):
# LZ4 finds repeats of whole values only within its block, and quantised float data (z-scored CT) is
# made of repeats. Measured on z-scored CT float32: 16 KiB blocks 13.5 MB, 64 KiB 11.9 MB per case.
NOFILTER_BLOCK_GROWTH = 4
# In the default profile (fast reads) the unfiltered candidate must make the trial slab this much
# smaller than the split SHUFFLE pipeline *and* compress it at least NOFILTER_MIN_RATIO : 1. LZ4
# decodes unfiltered data at a speed that follows its ratio: short matches (one repeated value each)
# decode slowly. Measured (benchmarks/filter_choice.py, 128^3 reads, one thread): z-scored CT float32
# 1.8:1 unfiltered, 27 % smaller than split SHUFFLE but read at 0.43x its speed; a coarsely
# quantised float32 4.6:1, 57 % smaller at 0.95x.
SLOWER_DECODE_MARGIN = 0.90
NOFILTER_MIN_RATIO = 3.0


def codec_candidates(profile: str, dtype: DTypeLike, chunks: Sequence[int] | None = None,
                     blocks: Sequence[int] | None = None, spatial_axes: Sequence[int] | None = None,
                     fixed_blocks: bool = False) -> list[tuple[dict, list[int] | None]]:
    """The ``(cparams description, blocks)`` pairs a save trial compares, the profile's preference first.

    ``"default"``: LZ4HC 6 + SHUFFLE with byte-plane splitting (fast decode: noisy low bytes are
    stored raw), and for multi-byte data LZ4HC 6 without a filter on larger blocks (repeated whole
    values, e.g. quantised floats). ``"training"``: ZSTD 8 without splitting and SHUFFLE,
    SHUFFLE+BYTEDELTA or no filter for multi-byte data (BYTEDELTA wins on smooth CT, no filter on
    quantised floats); none or BITSHUFFLE for bytes (sparse label maps). ``fixed_blocks``: the caller
    chose the blocks, every candidate keeps them.
    """
    itemsize = np.dtype(dtype).itemsize
    blocks = None if blocks is None else list(blocks)
    if check_profile(profile) == "default":
        first = default_cparams(dtype)
        if itemsize == 1:
            return [(first, blocks)]
        grown = blocks if fixed_blocks else _grown_blocks(blocks, chunks, spatial_axes, NOFILTER_BLOCK_GROWTH)
        nofilter = {"codec": "LZ4HC", "clevel": 6, "filters": ["NOFILTER"], "splitmode": "NEVER_SPLIT"}
        return [(first, blocks), (nofilter, grown)]
    base = {"codec": "ZSTD", "clevel": 8, "splitmode": "NEVER_SPLIT"}
    if itemsize > 1:
        pipelines = [["SHUFFLE"], ["SHUFFLE", "BYTEDELTA"], ["NOFILTER"]]
    else:
        pipelines = [["NOFILTER"], ["BITSHUFFLE"]]
    return [({**base, "filters": f}, blocks) for f in pipelines]


def _grown_blocks(blocks: list[int] | None, chunks: Sequence[int] | None, spatial_axes: Sequence[int] | None,
                  factor: int) -> list[int] | None:
    """``blocks`` doubled along the spatial axes (last first; never the slice axis of a volume) inside
    ``chunks`` until ``factor`` times larger."""
    if blocks is None or chunks is None:
        return blocks
    spatial = _check_spatial_axes(spatial_axes, len(blocks))
    axes = spatial[::-1] if len(spatial) < 3 else spatial[:0:-1]  # 2D loaders read one slice of a volume
    out = list(blocks)
    _double_while(out, axes, tuple(int(c) for c in chunks), math.prod(blocks) * factor)
    return out


def trial_slab_bytes(sample: np.ndarray, desc: dict, blocks: Sequence[int] | None) -> int:
    """Compressed bytes of ``sample`` (one chunk) under one candidate: the trial's measure."""
    sample = np.ascontiguousarray(sample)
    trial_blocks = None if blocks is None else tuple(max(1, min(int(b), n)) for b, n in zip(blocks, sample.shape))
    cp = to_blosc2_cparams({**desc, "nthreads": 1})
    # empty + assignment rather than blosc2.asarray: the array's own compression is the one asarray call
    # callers (and the published package's suite) can count on
    trial = blosc2.empty(sample.shape, dtype=sample.dtype, chunks=sample.shape, blocks=trial_blocks, cparams=cp)
    trial[...] = sample
    return trial.schunk.cbytes


def choose_cparams(profile: str, dtype: DTypeLike, sample: np.ndarray | None = None,
                   chunks: Sequence[int] | None = None, blocks: Sequence[int] | None = None,
                   spatial_axes: Sequence[int] | None = None,
                   fixed_blocks: bool = False) -> tuple[dict, list[int] | None]:
    """``(cparams description, blocks)`` for a save: the candidate of :func:`codec_candidates` that
    compresses ``sample`` (the array's central chunk) smallest, as nnU-Net 2.8 picks its filter.

    Without a sample (empty files, regions written later) the profile's first choice. In the
    default profile the unfiltered candidate, which decodes slower unless its matches are long,
    must be ``SLOWER_DECODE_MARGIN`` times the first one's size or less and compress the sample
    ``NOFILTER_MIN_RATIO`` : 1 or better; ties go to the earlier candidate. The trial compresses
    one chunk per candidate, single-threaded.
    """
    candidates = codec_candidates(profile, dtype, chunks, blocks, spatial_axes, fixed_blocks)
    if sample is None or sample.size == 0 or len(candidates) == 1:
        return candidates[0]
    sizes = [trial_slab_bytes(sample, desc, b) for desc, b in candidates]
    if check_profile(profile) == "default":
        # candidates after the first decode slower: they must win clearly and by long matches
        first = sizes[0]
        raw = np.asarray(sample).nbytes
        sizes = [sizes[0]] + [n if n <= SLOWER_DECODE_MARGIN * first and raw >= NOFILTER_MIN_RATIO * n else first + 1
                              for n in sizes[1:]]
    return candidates[int(np.argmin(sizes))]  # argmin: the first of equal sizes


def profile_cparams(profile: str, dtype: DTypeLike, sample: np.ndarray | None = None,
                    blocks: Sequence[int] | None = None) -> dict:
    """Compression parameters of a save profile, as plain names (:func:`choose_cparams` with the
    given blocks kept for every candidate)."""
    return choose_cparams(profile, dtype, sample, None, blocks, None, fixed_blocks=True)[0]


def to_blosc2_cparams(d: dict) -> blosc2.CParams:
    """Build a :class:`blosc2.CParams` from a :func:`default_cparams`-style dict.

    Accepts ``codec``, ``clevel``, ``filters``, ``splitmode`` (names) and passes any other
    key (e.g. ``nthreads``, ``typesize``) through unchanged.
    """
    d = dict(d)
    kwargs = {}
    if "codec" in d:
        kwargs["codec"] = _enum_member(blosc2.Codec, "cparams.codec", d.pop("codec"))
    if "filters" in d:
        kwargs["filters"] = [_enum_member(blosc2.Filter, "cparams.filters", f) for f in d.pop("filters")]
    if "splitmode" in d:
        kwargs["splitmode"] = _enum_member(blosc2.SplitMode, "cparams.splitmode", d.pop("splitmode"))
    if "clevel" in d:
        clevel = d.pop("clevel")
        if not _is_int(clevel) or not 0 <= clevel <= 9:
            raise MetadataError("cparams.clevel", clevel, "must be an integer from 0 to 9")
        kwargs["clevel"] = int(clevel)
    kwargs.update(d)
    return blosc2.CParams(**kwargs)


def _enum_member(enum: type[E], field: str, value: object) -> E:
    if isinstance(value, enum):
        return value
    try:
        return enum[str(value).upper()]
    except KeyError:
        names = [m.name for m in enum]
        raise MetadataError(field, value, f"is not a known name, expected one of {names}") from None
