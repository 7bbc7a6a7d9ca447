"""Lazy dask arrays over ``.mla`` files (optional extra: ``pip install mlarray[dask]``).

    from mlarray.dask import to_dask
    x = to_dask("ct.mla")            # dask chunks == the file's Blosc2 chunks
    x[100:200].mean().compute()      # decompresses only the chunks under the slice

Each dask block is read by a small picklable reader that holds only the file path: a worker (a
local process or a ``dask.distributed`` node sharing the filesystem) reopens the file itself,
memory-mapped, and decompresses exactly the chunk of its block. Building the graph reads the
header only.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Callable, Optional, Sequence, Union

import numpy as np
from numpy.typing import DTypeLike

from . import remote
from ._array import MLArray
from ._data.levels import LevelArray
from ._errors import InputError
from ._remote import absolute
from .optpkg import optional_import

if TYPE_CHECKING:  # pragma: no cover
    from dask.array import Array as DaskArray

da = optional_import("dask.array", feature="mlarray.dask (lazy dask arrays over .mla)", extra="dask")

__all__ = ["to_dask", "MLArrayBlockReader"]


class MLArrayBlockReader:
    """An array-like over one level of an ``.mla`` file that pickles as ``(path, level)``.

    ``shape``/``dtype``/``ndim``/``chunks`` come from the header; ``reader[key]`` opens the file on
    first use in the current process (memory-mapped, read-only) and returns numpy.
    """

    def __init__(self, path: Union[str, os.PathLike], level: int = 0, *, shape: Optional[Sequence[int]] = None,
                 dtype: Optional[DTypeLike] = None, chunks: Optional[Sequence[int]] = None) -> None:
        self.path = absolute(path)  # URLs stay URLs
        self.level = int(level)
        if shape is None:
            lv = self._level()
            shape, dtype, chunks = lv.shape, lv.dtype, lv.chunk_shape()
        elif chunks is None:
            raise InputError("MLArrayBlockReader: pass chunks together with shape (or neither, to read the header)")
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.chunks = tuple(int(c) for c in chunks)
        self._pid: Optional[int] = None
        self._lv: Optional[LevelArray] = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _level(self) -> LevelArray:
        img = MLArray.open(self.path, mmap_mode="r")
        return img.levels[self.level]

    def __getitem__(self, key: object) -> np.ndarray:
        if self._lv is None or self._pid != os.getpid():
            self._lv, self._pid = self._level(), os.getpid()
        return np.asarray(self._lv[key])

    def __reduce__(
        self,
    ) -> tuple[Callable[..., MLArrayBlockReader], tuple[str, int, tuple[int, ...], str, tuple[int, ...]]]:
        return (_rebuild_reader, (self.path, self.level, self.shape, self.dtype.str, self.chunks))

    def __repr__(self) -> str:
        return f"MLArrayBlockReader({self.path!r}, level={self.level}, shape={self.shape}, chunks={self.chunks})"


def _rebuild_reader(path: str, level: int, shape: Sequence[int], dtype: str,
                    chunks: Sequence[int]) -> MLArrayBlockReader:
    return MLArrayBlockReader(path, level, shape=shape, dtype=dtype, chunks=chunks)


def to_dask(img_or_path: Union[str, os.PathLike, MLArray], level: int = 0,
            chunks: Optional[Union[Sequence[int], str]] = None, name: Optional[str] = None) -> DaskArray:
    """A lazy ``dask.array.Array`` over an ``.mla`` file (a path or a file-backed ``MLArray``).

    ``chunks=None`` (default) makes every dask block exactly one Blosc2 chunk of the file (edge
    blocks clipped), so reading a block decompresses one chunk. Larger ``chunks`` (per axis, should
    be multiples of the file chunks) trade graph size for fewer tasks. ``level`` selects a pyramid
    level (levels > 0 are decoded on first access; their chunks are the level's own).
    The graph is keyed by path, size and modification time, so a rewritten file gets new keys.
    """
    path = getattr(img_or_path, "filepath", None) if not isinstance(img_or_path, (str, os.PathLike)) else img_or_path
    if path is None:
        raise InputError("to_dask needs a file: pass a path or an MLArray opened from a file "
                         "(for in-memory arrays use dask.array.from_array(img.to_numpy()))")
    reader = MLArrayBlockReader(path, level)
    if chunks is None:
        chunks = reader.chunks
    if name is None:
        if remote.is_url(reader.path):  # the version the server names (ETag, Last-Modified, size)
            version = "|".join(map(str, remote.identity(reader.path)))
        else:
            st = os.stat(reader.path)
            version = f"{st.st_size}|{st.st_mtime_ns}"
        token = hashlib.sha1(f"{reader.path}|{version}|{level}|{chunks}".encode()).hexdigest()
        name = f"mlarray-{token[:16]}"
    return da.from_array(reader, chunks=chunks, name=name, lock=False, asarray=False, fancy=False,
                         meta=np.empty((0,) * reader.ndim, dtype=reader.dtype))
