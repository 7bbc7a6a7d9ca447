"""The published package's in-memory constructors and affine views, as a mixin of :class:`mlarray.MLArray`.

``compressed=True`` (the default, as in the published package) keeps the voxels as an in-memory
Blosc2 array laid out like the file will be; ``compressed=False`` keeps a numpy array. The mixin goes
through ``MLArray``'s public constructor and properties only: the array's state is ``MLArray``'s own.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import blosc2
import numpy as np

from .._data.writer import blosc2_kwargs
from .._errors import MetadataError, MetadataTypeError, NoArrayError
from ..layout import derive_layout

__all__ = ["PublishedArrayAPI"]

_LAYOUT_ARGS = ("patch_size", "chunk_size", "block_size", "cparams", "dparams")


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        return tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise MetadataTypeError("shape", shape, "must be an int or a sequence of ints", "pass e.g. (64, 128, 128)") \
            from None


class PublishedArrayAPI:
    """Constructors and views documented by the published ``mlarray`` package."""

    # -- in-memory constructors ---------------------------------------------------------------
    @classmethod
    def _in_memory(cls, shape, dtype, meta, layout: dict, compressed: bool,
                   numpy_make: Callable, blosc2_make: Optional[Callable]):
        shape, dtype = _shape(shape), np.dtype(dtype)
        meta = cls(None, meta=meta, **layout).meta  # the constructor's reading of meta (a Meta, a source dict, None)
        meta.record_array(shape)
        meta.validate(len(shape))  # refused before anything is allocated
        if compressed and blosc2_make is not None and math.prod(shape) > 0:
            data = blosc2_make(shape, dtype, **blosc2_kwargs(shape, dtype, meta, **layout))
            return cls(data, meta=meta, **layout)  # kept as made: the layout is recorded in meta.blosc2
        return cls(numpy_make(shape, dtype), meta=meta, compressed=compressed, **layout)

    @classmethod
    def asarray(cls, array, meta=None, patch_size="default", chunk_size=None, block_size=None, cparams=None,
                dparams=None, compressed: bool = True):
        """Wrap an array (Blosc2-compressed in memory unless ``compressed=False``)."""
        return cls(np.asarray(array) if not hasattr(array, "shape") else array, meta=meta, patch_size=patch_size,
                   chunk_size=chunk_size, block_size=block_size, cparams=cparams, dparams=dparams,
                   compressed=compressed)

    @classmethod
    def empty(cls, shape, dtype, meta=None, patch_size="default", chunk_size=None, block_size=None, cparams=None,
              dparams=None, compressed: bool = True):
        return cls._in_memory(shape, dtype, meta, _layout_of(locals()), compressed, np.empty, blosc2.empty)

    @classmethod
    def zeros(cls, shape, dtype, meta=None, patch_size="default", chunk_size=None, block_size=None, cparams=None,
              dparams=None, compressed: bool = True):
        return cls._in_memory(shape, dtype, meta, _layout_of(locals()), compressed, np.zeros, blosc2.zeros)

    @classmethod
    def ones(cls, shape, dtype=None, meta=None, patch_size="default", chunk_size=None, block_size=None,
             cparams=None, dparams=None, compressed: bool = True):
        dtype = blosc2.DEFAULT_FLOAT if dtype is None else dtype
        return cls._in_memory(shape, dtype, meta, _layout_of(locals()), compressed, np.ones, blosc2.ones)

    @classmethod
    def full(cls, shape, fill_value, dtype=None, meta=None, patch_size="default", chunk_size=None,
             block_size=None, cparams=None, dparams=None, compressed: bool = True):
        if dtype is None:
            dtype = np.dtype(f"S{len(fill_value)}") if isinstance(fill_value, bytes) else np.asarray(fill_value).dtype
        return cls._in_memory(shape, dtype, meta, _layout_of(locals()), compressed,
                              lambda s, d: np.full(s, fill_value, dtype=d),
                              lambda s, d, **kw: blosc2.full(s, fill_value, dtype=d, **kw))

    @classmethod
    def arange(cls, start, stop=None, step=1, dtype=None, shape=None, c_order: bool = True, meta=None,
               patch_size=None, chunk_size=None, block_size=None, cparams=None, dparams=None,
               compressed: bool = True):
        """Evenly spaced values (``numpy.arange``), optionally reshaped to ``shape``."""
        step = 1 if step is None else step
        if stop is None:
            start, stop = 0, start
        if dtype is None:
            floats = any(isinstance(v, (float, np.floating)) for v in (start, stop, step))
            dtype = blosc2.DEFAULT_FLOAT if floats else blosc2.DEFAULT_INT
        values = np.arange(start, stop, step, dtype=dtype)
        return cls._from_values(values, shape, c_order, meta, _layout_of(locals()), compressed, "arange")

    @classmethod
    def linspace(cls, start, stop, num=None, dtype=None, endpoint: bool = True, shape=None, c_order: bool = True,
                 meta=None, patch_size=None, chunk_size=None, block_size=None, cparams=None, dparams=None,
                 compressed: bool = True):
        """``num`` evenly spaced samples (``numpy.linspace``), optionally reshaped to ``shape``."""
        if num is None:
            if shape is None:
                raise MetadataError("num", None, "is needed when shape is not given", "pass num= or shape=")
            num = math.prod(_shape(shape))
        values = np.linspace(start, stop, int(num), endpoint=endpoint, dtype=dtype)
        return cls._from_values(values, shape, c_order, meta, _layout_of(locals()), compressed, "linspace")

    @classmethod
    def _from_values(cls, values: np.ndarray, shape, c_order: bool, meta, layout: dict, compressed: bool, name: str):
        if shape is not None:
            shape = _shape(shape)
            if math.prod(shape) != values.size:
                raise MetadataError("shape", list(shape), f"does not hold the {values.size} values {name} gives",
                                    "make shape's product equal the number of values")
            values = values.reshape(shape, order="C" if c_order else "F")
        return cls._in_memory(values.shape, values.dtype, meta, layout, compressed,
                              lambda s, d: np.ascontiguousarray(values), None)

    @classmethod
    def _like(cls, x, dtype, meta) -> tuple:
        if isinstance(x, PublishedArrayAPI):  # an MLArray (the only class this mixin is part of)
            if x.shape is None:
                raise NoArrayError("the MLArray given to *_like holds no array; pass one with data")
            if meta is None:
                meta = x.meta.for_new_array()  # the new array's statistics and pyramid are its own
            return x.shape, dtype or x.dtype, meta
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return tuple(x.shape), dtype or x.dtype, meta
        raise MetadataTypeError("x", x, "must be an MLArray or an array with shape and dtype",
                                "pass an MLArray or a numpy array")

    @classmethod
    def empty_like(cls, x, dtype=None, meta=None, patch_size="default", chunk_size=None, block_size=None,
                   cparams=None, dparams=None, compressed: bool = True):
        shape, dtype, meta = cls._like(x, dtype, meta)
        return cls.empty(shape, dtype, meta, **_layout_of(locals()), compressed=compressed)

    @classmethod
    def zeros_like(cls, x, dtype=None, meta=None, patch_size="default", chunk_size=None, block_size=None,
                   cparams=None, dparams=None, compressed: bool = True):
        shape, dtype, meta = cls._like(x, dtype, meta)
        return cls.zeros(shape, dtype, meta, **_layout_of(locals()), compressed=compressed)

    @classmethod
    def ones_like(cls, x, dtype=None, meta=None, patch_size="default", chunk_size=None, block_size=None,
                  cparams=None, dparams=None, compressed: bool = True):
        shape, dtype, meta = cls._like(x, dtype, meta)
        return cls.ones(shape, dtype, meta, **_layout_of(locals()), compressed=compressed)

    @classmethod
    def full_like(cls, x, fill_value, dtype=None, meta=None, patch_size="default", chunk_size=None,
                  block_size=None, cparams=None, dparams=None, compressed: bool = True):
        shape, dtype, meta = cls._like(x, dtype, meta)
        return cls.full(shape, fill_value, dtype, meta, **_layout_of(locals()), compressed=compressed)

    # -- affine views -----------------------------------------------------------------------
    def _linear(self) -> Optional[np.ndarray]:
        a = self.affine
        return None if a is None else np.asarray(a, dtype=float)

    @property
    def translation(self) -> Optional[list[float]]:
        """World position of voxel 0 (the affine's last column)."""
        a = self._linear()
        return None if a is None else a[:-1, -1].tolist()

    @property
    def scale(self) -> Optional[list[float]]:
        """Length of each affine column: the voxel size along each spatial axis."""
        a = self._linear()
        return None if a is None else np.linalg.norm(a[:-1, :-1], axis=0).tolist()

    @property
    def rotation(self) -> Optional[list[list[float]]]:
        """The affine's columns scaled to unit length (orthonormal unless the affine is sheared)."""
        a = self._linear()
        return None if a is None else (a[:-1, :-1] / np.asarray(self.scale)).tolist()

    @property
    def shear(self) -> Optional[list[list[float]]]:
        """``rotationᵀ · linear / scale`` per row: the identity for an unsheared affine."""
        a = self._linear()
        if a is None:
            return None
        scales = np.asarray(self.scale)
        return (np.asarray(self.rotation).T @ a[:-1, :-1] / scales[:, None]).tolist()

    @classmethod
    def comp_blosc2_params(cls, image_size, patch_size, spatial_axis_mask=None, bytes_per_pixel: int = 4,
                           l1_cache_size_per_core_in_bytes: int = 32768,
                           l3_cache_size_per_core_in_bytes: int = 1441792, safety_factor: float = 0.8):
        """``(chunk_size, block_size)`` this library would use for ``image_size`` read in ``patch_size``
        patches. The cache arguments of the published package are accepted; the layout rule itself
        is :func:`mlarray.layout.derive_layout`, measured on real reads (see ``docs/spec.md``)."""
        shape = _shape(image_size)
        axes = None if spatial_axis_mask is None else [i for i, m in enumerate(spatial_axis_mask) if m]
        return derive_layout(shape, int(bytes_per_pixel), axes, _shape(patch_size) if not isinstance(
            patch_size, (int, np.integer)) else int(patch_size))


def _layout_of(args: dict) -> dict:
    return {k: args[k] for k in _LAYOUT_ARGS if k in args}
