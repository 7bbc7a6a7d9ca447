"""nnU-Net v2's Blosc2 case stores: 2.8 written by nnunetv2's own code, 2.6 re-derived from its facts.

**nnU-Net 2.8** (:func:`write_nnunet28_case`): the case is written by the installed nnunetv2's
``nnUNetDatasetBlosc2.save_case`` with the blocks and chunks of its ``comp_blosc2_params`` for the
training patch, exactly as its ``DefaultPreprocessor.run_case_save`` calls them (LZ4HC 5, the
filter chosen per array by ``_select_filter``'s trial of NOFILTER vs SHUFFLE on a centred slab of
at most one chunk). ``save_case`` also writes a ``_seg.b2nd`` label file and a ``.pkl`` of
properties; the benchmark gives it an all-background label map and counts only the image file.
Needs ``pip install 'mlarray[bench]'`` (nnunetv2; hold torch with a constraints file, see
pyproject.toml). The case keeps its dtype: the benchmark compares stores of the same voxels (the
preprocessor itself casts images to float32 before ``save_case``).

**nnU-Net 2.6 re-derived** (:func:`write_nnunet_case`, kept for ``codec_sweep.py``): rebuilt from
the facts of nnunetv2 2.5/2.6's published source (not its code). ``nnUNetDatasetBlosc2`` then stored
each case as ``<case>.b2nd`` with the channel axis first, ``(c, x, y, z)`` (2D data as ``(c, 1, y, x)``),
Blosc2 ZSTD clevel 8 with python-blosc2's default filter (SHUFFLE), and derived blocks and chunks from
the training patch size and the caches of an old Intel CPU:

* blocks start at the patch size rounded up to powers of two (all channels), then the axis whose
  block is longest relative to the patch is halved (to the next lower power of two) until the
  block is at most 80 % of a 32 KiB L1 cache;
* chunks start at the block and grow by one block along the axis least covered relative to its
  block (never along an axis where the patch is 1, never past the image), until the chunk reaches
  80 % of 1.375 MiB of L3 per core, or until the chunk averages more than 1.5 patches per axis
  (then the last step is undone).

Reads open the file with ``blosc2.open(urlpath, mode="r", dparams={"nthreads": 1}, mmap_mode="r")``
and slice it, as its ``load_case`` does (unchanged in 2.8.1).
"""

from __future__ import annotations

import math

import blosc2
import numpy as np

__all__ = ["nnunet_layout", "write_nnunet_case", "write_nnunet28_case", "nnunet_version", "L1_BYTES", "L3_BYTES",
           "SAFETY"]

L1_BYTES = 32768
L3_BYTES = 1441792
SAFETY = 0.8


def _pow2_up(n: int) -> int:
    return 2 ** max(0, math.ceil(math.log2(n)))


def _pow2_below(n: int) -> int:
    return 2 ** max(0, math.floor(math.log2(n - 1))) if n > 1 else 1


def nnunet_layout(image_size, patch_size, itemsize: int) -> tuple[tuple, tuple]:
    """(blocks, chunks) for a ``(c, x, y, z)`` image and a 2D or 3D spatial patch."""
    image = [int(n) for n in image_size]
    patch = [1, *patch_size] if len(patch_size) == 2 else list(patch_size)
    block = [image[0], *(_pow2_up(p) for p in patch)]
    while math.prod(block) * itemsize > L1_BYTES * SAFETY:
        ratios = [block[a + 1] / patch[a] for a in range(3)]
        axis = next(a for a in sorted(range(3), key=lambda a: (ratios[a], a), reverse=True) if block[a + 1] != 1)
        block[axis + 1] = min(_pow2_below(block[axis + 1]), image[axis + 1])
    block = [min(b, n) for b, n in zip(block, image)]
    chunk = list(block)
    while math.prod(chunk) * itemsize < L3_BYTES * SAFETY:
        if patch[0] == 1 and chunk[2:] == image[2:]:
            break
        if chunk == image:
            break
        order = sorted(range(3), key=lambda a: chunk[a + 1] / block[a + 1])
        growable = [a for a in order if chunk[a + 1] != image[a + 1] and patch[a] != 1]
        if not growable:
            break
        axis = growable[0]
        chunk[axis + 1] = min(chunk[axis + 1] + block[axis + 1], image[axis + 1])
        if np.mean([c / p for c, p in zip(chunk[1:], patch)]) > 1.5:
            chunk[axis + 1] -= block[axis + 1]
            break
    chunk = [min(c, n) for c, n in zip(chunk, image)]
    return tuple(block), tuple(chunk)


def as_nnunet_array(arr: np.ndarray, channel_axes: tuple) -> np.ndarray:
    """The case as nnU-Net holds it: channels first, 2D images as ``(c, 1, y, x)``."""
    if channel_axes:
        arr = np.moveaxis(arr, channel_axes[0], 0)
    else:
        arr = arr[None]
    if arr.ndim == 3:
        arr = arr[:, None]
    return np.ascontiguousarray(arr)


def write_nnunet_case(path: str, arr: np.ndarray, channel_axes: tuple, patch_size) -> np.ndarray:
    """nnU-Net 2.6's store as re-derived above (ZSTD 8, SHUFFLE, the L1/L3 layout)."""
    data = as_nnunet_array(arr, channel_axes)
    blocks, chunks = nnunet_layout(data.shape, patch_size, data.dtype.itemsize)
    blosc2.asarray(data, urlpath=path, chunks=chunks, blocks=blocks, mode="w",
                   cparams={"codec": blosc2.Codec.ZSTD, "clevel": 8, "nthreads": 2})
    return data


def _nnunetv2():
    from mlarray.optpkg import optional_import

    return optional_import("nnunetv2.training.dataloading.nnunet_dataset", feature="nnU-Net 2.8's store", extra="bench")


def nnunet_version() -> str:
    from importlib.metadata import version

    return version("nnunetv2")


def write_nnunet28_case(path: str, arr: np.ndarray, channel_axes: tuple, patch_size) -> dict:
    """Write ``path`` (``<case>.b2nd``) with nnunetv2's own ``save_case``; return what it chose."""
    nnd = _nnunetv2()
    data = as_nnunet_array(arr, channel_axes)
    seg = np.zeros((1, *data.shape[1:]), np.int16)  # the preprocessor's label dtype; all background
    blocks, chunks = nnd.comp_blosc2_params(data.shape, tuple(patch_size), data.itemsize)
    blocks_seg, chunks_seg = nnd.comp_blosc2_params(seg.shape, tuple(patch_size), seg.itemsize)
    if not path.endswith(".b2nd"):
        raise ValueError(f"nnU-Net case files end in .b2nd, got {path!r}")
    nnd.nnUNetDatasetBlosc2.save_case(data, seg, {}, path[:-len(".b2nd")], chunks=chunks, blocks=blocks,
                                      chunks_seg=chunks_seg, blocks_seg=blocks_seg)
    stored = blosc2.open(path, mode="r")
    filters = [f.name for f in stored.schunk.cparams.filters if f != blosc2.Filter.NOFILTER] or ["NOFILTER"]
    return {"blocks": tuple(blocks), "chunks": tuple(chunks), "filters": filters,
            "codec": stored.schunk.cparams.codec.name, "clevel": stored.schunk.cparams.clevel}
