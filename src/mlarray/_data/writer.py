"""Writing ``.mla`` files: base array, statistics, pyramid and JSON metadata, atomically."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator, Optional

import blosc2
import numpy as np

from .._errors import MetadataError
from .._file import integrity as _integrity
from .._file.atomic import atomic_output
from .._file.container import assemble, level_layout
from .._file.format import CURRENT_FORMAT
from .._metadata.meta_base import library_write
from .._version import __version__
from ..layout import check_profile, choose_cparams, codec_candidates, resolve_layout, to_blosc2_cparams
from ..meta import Meta, MetaBlosc2, MetaPyramid, MetaStatistics, spatial_axes_of
from ..pyramid import build_pyramid
from ..stats import MAX_CHANNEL_STATS, compute_channel_stats, compute_stats
from .chunks import iter_chunk_slices, working_chunk_shape
from .region_write import write_region

__all__ = ["write_file", "create_empty", "derive", "finish", "rewrite", "resolve_dparams", "compress_in_memory",
           "blosc2_kwargs", "PYRAMID_MIN_SIZE"]

# Levels are halved until every spatial axis is at most this long: one level then fits a
# viewer canvas, and images no larger than this get no pyramid at all.
PYRAMID_MIN_SIZE = 256


def _writer_id() -> str:
    return f"mlarray {__version__}"


def resolve_dparams(dparams: Any) -> Any:
    if dparams is None:
        # One thread: training loaders run many worker processes; threads would oversubscribe.
        return blosc2.DParams(nthreads=1)
    if isinstance(dparams, dict):
        return blosc2.DParams(**dparams)
    return dparams


def _resolve_cparams(cparams: Any, dtype: Any, profile: str = "default", data: Any = None,
                     layout: Any = None) -> tuple[Any, dict, Any]:
    """(blosc2.CParams, JSON description, blocks) from user cparams or the profile's choice.

    Without user cparams the profile's candidates are tried on the central chunk of ``data``
    (``mlarray.layout.choose_cparams``); the winner may bring its own blocks unless the caller fixed
    them. ``layout``: (chunks, blocks, spatial axes, blocks given by the caller) or None.
    """
    chunks, blocks, axes, fixed = layout or (None, None, None, True)
    if cparams is None:
        chosen = _chosen_in_memory(data, profile, chunks, blocks, axes, fixed)
        desc, blocks = chosen or choose_cparams(profile, dtype, _central_region(data, chunks), chunks, blocks, axes,
                                                fixed)
        return to_blosc2_cparams(desc), {k: v for k, v in desc.items() if k != "splitmode"}, blocks
    if isinstance(cparams, dict):
        cp = blosc2.CParams(**cparams)
    else:
        cp = cparams
    desc = {"codec": getattr(cp.codec, "name", str(cp.codec)), "clevel": int(cp.clevel),
            "filters": [getattr(f, "name", str(f)) for f in cp.filters if getattr(f, "name", "") != "NOFILTER"]}
    return cp, desc, blocks


def _chosen_in_memory(data: Any, profile: str, chunks: Any, blocks: Any, axes: Any,
                      fixed: Any) -> Optional[tuple[dict, Any]]:
    """The candidate an in-memory Blosc2 array is already compressed with (``MLArray(array)`` ran the
    default profile's trial on the same central chunk): saving it copies its chunks without a second trial."""
    if not isinstance(data, blosc2.NDArray) or data.urlpath is not None or tuple(data.chunks) != tuple(chunks or ()):
        return None
    cp = data.schunk.cparams
    have = (cp.codec.name, int(cp.clevel), [f.name for f in cp.filters if f.name != "NOFILTER"] or ["NOFILTER"],
            cp.splitmode.name, list(data.blocks))
    for desc, cand_blocks in codec_candidates(profile, data.dtype, chunks, blocks, axes, fixed):
        if have == (desc["codec"], desc["clevel"], desc["filters"], desc["splitmode"], list(cand_blocks or [])):
            return desc, cand_blocks
    return None


def _layout(shape: Any, dtype: Any, meta: Meta, patch_size: Any, chunk_size: Any, block_size: Any,
            profile: str = "default") -> Any:
    """(chunks, blocks, patch, spatial axes)."""
    axes = spatial_axes_of(meta.spatial.axis_labels, len(shape))
    chunks, blocks, patch = resolve_layout(tuple(shape), np.dtype(dtype), axes, patch_size=patch_size,
                                           chunk_size=chunk_size, block_size=block_size, profile=profile)
    return chunks, blocks, patch, axes


def _central_region(data: Any, chunks: Any) -> Optional[np.ndarray]:
    """The chunk-sized region at the centre of ``data`` (lands on the body/tissue, not background)."""
    if data is None or chunks is None or any(n == 0 for n in data.shape):
        return None
    region = tuple(slice((n - min(c, n)) // 2, (n - min(c, n)) // 2 + min(c, n)) for n, c in zip(data.shape, chunks))
    return np.asarray(data[region])


def _new_store(path: str, shape: Any, dtype: Any, meta: Meta, *, patch_size: Any, chunk_size: Any, block_size: Any,
               cparams: Any, fill_value: Any = None, profile: str = "default", data: Any = None) -> Any:
    chunks = blocks = patch = layout = None
    if len(shape) and all(s > 0 for s in shape):
        chunks, blocks, patch, axes = _layout(shape, dtype, meta, patch_size, chunk_size, block_size, profile)
        layout = (chunks, blocks, axes, block_size is not None)
    cp, cdesc, blocks = _resolve_cparams(cparams, dtype, profile, data, layout)
    kwargs: dict[str, Any] = dict(urlpath=path, mode="w", cparams=cp, dparams=resolve_dparams(None),
                                  meta={CURRENT_FORMAT.marker: CURRENT_FORMAT.marker_value()})
    if chunks is not None:
        kwargs["chunks"] = tuple(chunks)
    if blocks is not None:
        kwargs["blocks"] = tuple(blocks)
    if fill_value is None:
        store = blosc2.empty(tuple(shape), dtype=dtype, **kwargs)
    else:
        store = blosc2.full(tuple(shape), fill_value, dtype=dtype, **kwargs)
    if patch is None and not all(s > 0 for s in shape):
        return store  # metadata-only file: no layout to record
    meta.record_layout(MetaBlosc2(chunk_size=list(store.chunks), block_size=list(store.blocks), patch_size=patch,
                                  codec=cdesc["codec"], clevel=cdesc["clevel"], filters=cdesc["filters"],
                                  dtype=np.dtype(store.dtype).str))
    return store


def _copy_into(store: Any, data: Any, progress: Optional[Callable[[int, int], None]]) -> None:
    """Stream ``data`` into ``store`` chunk-aligned slab by slab (no second full copy)."""
    if store.size == 0:
        return  # an axis of length 0: nothing to copy
    if _copy_compressed_chunks(store, data, progress):
        return
    work = working_chunk_shape(store.shape, store.dtype.itemsize, chunks=store.chunks)
    slabs = list(iter_chunk_slices(store.shape, work))
    for i, sl in enumerate(slabs):
        write_region(store, sl, np.ascontiguousarray(np.asarray(data[sl]), dtype=store.dtype))
        if progress:
            progress(i + 1, len(slabs))


_SAME_CODEC = ("codec", "codec_meta", "clevel", "filters", "filters_meta", "typesize", "splitmode")


def _copy_compressed_chunks(store: Any, data: Any, progress: Optional[Callable[[int, int], None]]) -> bool:
    """An in-memory Blosc2 array already compressed with the file's layout and codec (the default
    ``MLArray(array)``) is copied chunk by chunk, without decompressing, instead of being decoded and encoded again."""
    if not isinstance(data, blosc2.NDArray) or data.urlpath is not None:
        return False
    same = (tuple(data.shape) == tuple(store.shape) and tuple(data.chunks) == tuple(store.chunks)
            and tuple(data.blocks) == tuple(store.blocks) and np.dtype(data.dtype) == np.dtype(store.dtype)
            and data.schunk.nchunks == store.schunk.nchunks
            and all(getattr(data.schunk.cparams, k) == getattr(store.schunk.cparams, k) for k in _SAME_CODEC))
    if not same:
        return False
    n = data.schunk.nchunks
    for i in range(n):
        store.schunk.update_chunk(i, data.schunk.get_chunk(i))
        if progress:
            progress(i + 1, n)
    return True


def write_file(path: str, data: Any, meta: Meta, *, pyramid: Optional[bool] = None, stats: bool = True,
               progress: Optional[Callable[[int, int], None]] = None, patch_size: Any = "default",
               chunk_size: Any = None, block_size: Any = None, cparams: Any = None, dparams: Any = None,
               levels: Any = None, profile: Optional[str] = None) -> None:
    """Write ``data`` (numpy, NDArray or any sliceable array; None for metadata only) with ``meta``.

    ``levels``: precomputed pyramid levels (finest first, e.g. a pyramidal TIFF's) stored as given.
    ``profile``: ``"training"`` stores no pyramid unless ``pyramid=True`` and compresses for size
    (``mlarray.layout.profile_cparams``); None or ``"default"``: fast reads, pyramid when large.
    """
    profile = check_profile(profile)
    if profile == "training" and pyramid is None and not levels:
        pyramid = False  # training copies are read in patches; viewers can open the source
    meta = meta.copy()
    meta.writer = _writer_id()
    # The writer records what it wrote (layout, shape, pyramid, statistics): the library-managed fields.
    with atomic_output(path) as tmp, _scratch(tmp) as base_tmp, library_write():
        if data is None:
            store = _new_store(base_tmp, (0,), np.uint8, meta, patch_size=None, chunk_size=None,
                               block_size=None, cparams=None)
            meta.has_array = False
            meta.blosc2 = MetaBlosc2()
            meta.pyramid = MetaPyramid()
            levels = []
        else:
            store = _new_store(base_tmp, tuple(data.shape), np.dtype(data.dtype), meta, patch_size=patch_size,
                               chunk_size=chunk_size, block_size=block_size, cparams=cparams, profile=profile,
                               data=data)
            _copy_into(store, data, progress)
            meta.has_array = True
            meta.spatial.shape = list(data.shape)
            if levels:
                derive(store, meta, pyramid=False, stats=stats, progress=progress)  # statistics only
                levels = given_levels(store, meta, levels)
            else:
                levels = derive(store, meta, pyramid=pyramid, stats=stats, progress=progress)
        del store  # flushes the base frame before it is copied behind the levels
        finish(tmp, meta, levels, base_tmp)


def create_empty(path: str, shape: Any, dtype: Any, meta: Meta, *, patch_size: Any, chunk_size: Any,
                 block_size: Any, cparams: Any, fill_value: Any = 0) -> None:
    meta = meta.copy()
    meta.writer = _writer_id()
    meta.record_array(shape)
    with atomic_output(path) as tmp, _scratch(tmp) as base_tmp:
        store = _new_store(base_tmp, shape, dtype, meta, patch_size=patch_size, chunk_size=chunk_size,
                           block_size=block_size, cparams=cparams, fill_value=fill_value)
        del store
        finish(tmp, meta, [], base_tmp)


def rewrite(path: str, meta: Meta, levels: list, base_offset: int) -> None:
    """Atomically replace ``path`` with new levels in front of its (unchanged) base frame.

    Used by ``close()`` after in-place region writes: the old file stays valid until the rename.
    """
    with atomic_output(path) as tmp:
        finish(tmp, meta, levels, path, base_offset)


@contextlib.contextmanager
def _scratch(tmp: str) -> Iterator[str]:
    """A hidden scratch path for the base frame while the levels are computed from it."""
    scratch = tmp + ".base"
    try:
        yield scratch
    finally:
        with contextlib.suppress(OSError):
            os.unlink(scratch)


def finish(target: str, meta: Meta, levels: list, base_src: str, base_src_offset: int = 0) -> None:
    """Lay out ``target`` (header, level frames, base frame), then record checksums and metadata."""
    frames = [lv.to_cframe() for lv in levels]
    levels.clear()  # keep one compressed copy of each level in memory, not two
    # Checksums describe the chunks as stored in the frame (serialising may re-encode special chunks).
    level_sums = {}
    for k, frame in enumerate(frames, start=1):
        level_sums[str(k)] = _integrity.array_checksums(blosc2.ndarray_from_cframe(frame))
        frames[k - 1] = _integrity.frame_with_checksums(frame, level_sums[str(k)])  # for remote readers
    offsets, _ = level_layout([len(f) for f in frames])
    for entry, off, frame in zip(meta.pyramid.levels, offsets, frames):
        stored = blosc2.ndarray_from_cframe(frame)
        entry.update(offset=off, nbytes=len(frame), chunk_size=list(stored.chunks), block_size=list(stored.blocks))
    base_off = assemble(target, frames, base_src, base_src_offset)
    del frames
    store = blosc2.open(target, mode="a", offset=base_off)
    _integrity.write_checksums(store, level_sums)
    CURRENT_FORMAT.write_mapping(store, meta.to_mapping())
    del store


def derive(store: Any, meta: Meta, *, pyramid: Optional[bool], stats: bool = True,
           progress: Optional[Callable[[int, int], None]] = None) -> list:
    """Compute statistics and the pyramid from the stored base array.

    Sets ``meta.stats`` and ``meta.pyramid`` (offsets are filled in by :func:`finish`) and returns the
    levels as in-memory compressed NDArrays, finest first.
    """
    if stats and not meta.stats.user_supplied:  # statistics the caller set are kept as given
        meta.stats = MetaStatistics.from_mapping(_finite_only(compute_stats(store)))
        meta.stats.channels = _channel_stats(store, meta)
    meta.pyramid = MetaPyramid()
    axes = spatial_axes_of(meta.spatial.axis_labels, store.ndim)
    want = pyramid if pyramid is not None else any(store.shape[a] > PYRAMID_MIN_SIZE for a in axes)
    if not want or not axes or store.size == 0:
        return []
    built: dict[int, Any] = {}

    def make_level(k: int, shape: Any, dtype: Any) -> Any:
        built[k] = blosc2.zeros(tuple(shape), dtype=dtype, chunks=_level_chunks(store, shape),
                                cparams=_level_cparams(dtype))
        return built[k]

    infos = build_pyramid(store, axes, is_seg=bool(meta.is_seg), make_level=make_level,
                          min_size=PYRAMID_MIN_SIZE, progress=progress)
    meta.pyramid = MetaPyramid(
        levels=[{"shape": list(i["shape"]), "scale": list(i["scale"]), "offset": 0, "nbytes": 0} for i in infos],
        method=infos[0]["method"] if infos else None)
    return [built[i["level"]] for i in infos]


def given_levels(store: Any, meta: Meta, levels: Any) -> list:
    """Store a source's own pyramid (e.g. pyramidal TIFF) instead of computing one.

    Each level must keep the non-spatial axes and shrink (or keep) every spatial axis; its scale is
    the base shape over the level shape, per axis.
    """
    axes = set(spatial_axes_of(meta.spatial.axis_labels, store.ndim))
    out, entries, prev = [], [], tuple(store.shape)
    for i, lv in enumerate(levels, start=1):
        shape = tuple(int(n) for n in lv.shape)
        ok = len(shape) == store.ndim and all(
            (n <= p and n > 0) if a in axes else n == p for a, (n, p) in enumerate(zip(shape, prev)))
        if not ok:
            raise MetadataError(f"levels[{i - 1}]", list(shape), f"does not fit below {list(prev)}",
                                "levels must keep non-spatial axes and shrink spatial ones, finest first")
        arr = np.ascontiguousarray(np.asarray(lv), dtype=store.dtype)
        out.append(blosc2.asarray(arr, chunks=_level_chunks(store, shape), cparams=_level_cparams(store.dtype)))
        entries.append({"shape": list(shape), "scale": [b / n for b, n in zip(store.shape, shape)],
                        "offset": 0, "nbytes": 0})
        prev = shape
    meta.pyramid = MetaPyramid(levels=entries, method="source" if entries else None)
    return out


def _channel_stats(store: Any, meta: Meta) -> Optional[list]:
    """Statistics per channel when the array has one ``channel`` axis of at most MAX_CHANNEL_STATS."""
    labels = [getattr(v, "value", v) for v in (meta.spatial.axis_labels or [])]
    axes = [a for a, lab in enumerate(labels) if lab == "channel"]
    if len(axes) != 1 or len(labels) != store.ndim or not 0 < store.shape[axes[0]] <= MAX_CHANNEL_STATS:
        return None
    return [MetaStatistics.from_mapping(_finite_only(c)) for c in compute_channel_stats(store, axes[0])]


def _finite_only(stats: dict) -> dict:
    """JSON has no NaN/inf: data containing infinities gets None for the affected values."""
    out = dict(stats)
    for k, v in stats.items():
        if isinstance(v, float) and not np.isfinite(v):
            out[k] = None
    if isinstance(stats.get("percentiles"), dict):
        out["percentiles"] = {k: (v if v is None or np.isfinite(v) else None) for k, v in stats["percentiles"].items()}
    return out


def _level_cparams(dtype: Any) -> Any:
    """Pyramid levels are read rarely (viewers, overviews), so favour size: ZSTD 1 keeps writes fast
    and made a 256^3 CT level 16% smaller than the base array's LZ4HC (5.6 vs 6.7 MB)."""
    filters = [blosc2.Filter.SHUFFLE] if np.dtype(dtype).itemsize > 1 else [blosc2.Filter.NOFILTER]
    return blosc2.CParams(codec=blosc2.Codec.ZSTD, clevel=1, filters=filters,
                          splitmode=blosc2.SplitMode.ALWAYS_SPLIT, nthreads=1)


def _level_chunks(store: Any, shape: Any) -> tuple:
    return tuple(min(c, s) for c, s in zip(store.chunks, shape))


def blosc2_kwargs(shape: Any, dtype: Any, meta: Meta, patch_size: Any = "default", chunk_size: Any = None,
                  block_size: Any = None, cparams: Any = None, dparams: Any = None, data: Any = None) -> dict:
    """Blosc2 array arguments for an in-memory array laid out as the file will be; records the layout
    in ``meta.blosc2`` (chunks and blocks Blosc2 would choose itself where the layout leaves them open).
    ``data``: the array to be compressed, for the codec trial (the same choice a default save makes,
    so the save copies the compressed chunks as they are)."""
    dtype = np.dtype(dtype)
    chunks, blocks, patch, axes = _layout(shape, dtype, meta, patch_size, chunk_size, block_size)
    cp, desc, blocks = _resolve_cparams(cparams, dtype, "default", data, (chunks, blocks, axes, block_size is not None))
    kwargs: dict[str, Any] = {"cparams": cp, "dparams": resolve_dparams(dparams)}
    if chunks is not None:
        kwargs["chunks"] = tuple(chunks)
    if blocks is not None:
        kwargs["blocks"] = tuple(blocks)
    if chunks is None or blocks is None:
        c, b = blosc2.compute_chunks_blocks(tuple(shape), kwargs.get("chunks"), kwargs.get("blocks"), dtype=dtype)
        kwargs["chunks"], kwargs["blocks"] = tuple(c), tuple(b)
    meta.record_layout(MetaBlosc2(chunk_size=list(kwargs["chunks"]), block_size=list(kwargs["blocks"]),
                                  patch_size=patch, codec=desc["codec"], clevel=desc["clevel"],
                                  filters=desc["filters"], dtype=dtype.str))
    return kwargs


def compress_in_memory(arr: np.ndarray, meta: Meta, *, patch_size: Any = "default", chunk_size: Any = None,
                       block_size: Any = None, cparams: Any = None, dparams: Any = None) -> Any:
    """``arr`` as an in-memory Blosc2 array with the file layout; records the layout in ``meta.blosc2``."""
    if arr.size == 0:
        return arr  # Blosc2 cannot hold empty arrays; nothing to compress
    kwargs = blosc2_kwargs(arr.shape, arr.dtype, meta, patch_size, chunk_size, block_size, cparams, dparams, data=arr)
    return blosc2.asarray(np.ascontiguousarray(arr), **kwargs)

