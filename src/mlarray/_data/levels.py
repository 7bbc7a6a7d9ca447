"""Lazy per-level arrays: what viewers (napari) and patch samplers slice.

Level 0 is the base array (memory-mapped from the file); higher levels are Blosc2 frames in
front of the base frame (docs/spec.md section 1), opened and checked on first access only.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
from numpy.typing import DTypeLike

from .._errors import CorruptFileError, MLArrayError
from .._file import integrity as _integrity
from .._file.container import HEADER_SIZE, base_offset
from .._file.frame_check import check_frame
from .._remote import is_url
from .memory import check_read

__all__ = ["LevelArray", "level_loader"]


class LevelArray:
    """A read-only, lazily loaded array: ``shape``, ``dtype``, ``ndim``, ``__getitem__`` -> numpy."""

    def __init__(self, shape: Sequence[int], dtype: DTypeLike, scale: Sequence[float], loader: Callable[[], Any],
                 level: int = 0, chunks: Optional[Sequence[int]] = None, path: Optional[str] = None) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.scale = tuple(float(s) for s in scale)
        self.level = level
        self.chunks = None if chunks is None else tuple(chunks)
        self._loader = loader
        self._array: Any = None  # what loader() returned, once read
        self.path = path

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def chunk_shape(self) -> tuple[int, ...]:
        """The level's chunk shape; a pyramid level's is read from its frame (the level is opened and checked
        on this first use). An array stored without chunks counts as one chunk: its shape."""
        if self.chunks is None:
            self._get()
        return self.chunks if self.chunks is not None else self.shape

    def _get(self) -> Any:
        if self._array is None:
            self._array = self._loader()
            if self.chunks is None and hasattr(self._array, "chunks"):
                self.chunks = tuple(self._array.chunks)
        return self._array

    def __getitem__(self, key: Any) -> np.ndarray:
        check_read(self.path or "<array>", self.shape, self.dtype, key, f"this read of level {self.level}")
        return np.asarray(self._read(key))

    def __array__(self, dtype: Optional[DTypeLike] = None, copy: Optional[bool] = None) -> np.ndarray:
        check_read(self.path or "<array>", self.shape, self.dtype, Ellipsis, f"reading level {self.level} whole")
        out = np.asarray(self._read(Ellipsis))
        return out if dtype is None else out.astype(dtype, copy=False)

    def _read(self, key: Any) -> Any:
        try:
            return self._get()[key]
        except (RuntimeError, ValueError) as exc:  # C-Blosc2 on damaged data ("Error while getting the buffer")
            if self.path is None or isinstance(exc, MLArrayError):
                raise
            raise CorruptFileError(self.path, f"level {self.level} cannot be read "
                                              f"({type(exc).__name__}: {exc})") from None

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LevelArray(level={self.level}, shape={self.shape}, dtype={self.dtype}, scale={self.scale})"


def level_loader(path: str, k: int, entry: dict, dtype: DTypeLike, crcs: Optional[np.ndarray], verify: bool = True,
                 base: Any = None) -> Callable[[], "_CheckedLevel"]:
    """Open pyramid level ``k`` memory-mapped at its offset, checked against the metadata.

    With ``verify``, chunks are checked on first access: against ``crcs``, or their headers only.
    ``base``: the open base array; a remote one (``path`` a URL) reads its levels over the same
    connection and file version (mlarray._remote)."""
    def load() -> _CheckedLevel:
        import blosc2

        what = f"pyramid level {k}"
        start, end = int(entry["offset"]), int(entry["offset"]) + int(entry["nbytes"])
        if is_url(path):
            from .._remote.store import open_level

            arr = open_level(base, k, start, end, what)  # bounds checked there, against the remote header
        else:
            arr = _open_local_level(path, start, end, what)
        # the metadata and the level disagree: a forged level could otherwise claim any size
        if (not (isinstance(arr, blosc2.NDArray) or is_url(path)) or tuple(arr.shape) != tuple(entry["shape"])
                or np.dtype(arr.dtype) != np.dtype(dtype)):
            raise CorruptFileError(path, f"{what} is {getattr(arr, 'shape', '?')} {getattr(arr, 'dtype', '?')}, "
                                         f"but the metadata says {tuple(entry['shape'])} {np.dtype(dtype)}")
        for name, attr in (("chunk_size", "chunks"), ("block_size", "blocks")):
            if entry.get(name) is not None and tuple(entry[name]) != tuple(getattr(arr, attr)):
                raise CorruptFileError(path, f"{what}'s frame header says {attr} {list(getattr(arr, attr))} but the "
                                             f"metadata recorded {entry[name]} (damaged header)")
        view = arr if not verify else _integrity.VerifiedArray(
            arr, _integrity.ChunkVerifier(arr, path, crcs, what=what))
        return _CheckedLevel(view, what, path)
    return load


def _open_local_level(path: str, start: int, end: int, what: str) -> Any:
    import blosc2

    if not HEADER_SIZE <= start < end <= base_offset(path):
        raise CorruptFileError(path, f"{what} is said to lie at bytes {start}..{end}, outside the level "
                                     "area between the header and the array")
    try:
        check_frame(path, start)  # damage C-Blosc2 would crash on (see _frame_check)
    except CorruptFileError as exc:
        raise CorruptFileError(path, f"{what} cannot be read ({exc.problem})") from None
    try:
        return blosc2.open(path, mode="r", offset=start, mmap_mode="r")
    except Exception as exc:
        raise CorruptFileError(path, f"{what} cannot be read ({type(exc).__name__}: {exc})") from None


class _CheckedLevel:
    """A decoded level whose read errors (damaged chunks) become ``CorruptFileError``."""

    def __init__(self, arr: Any, key: str, path: str) -> None:
        self._arr, self._key, self._path = arr, key, path
        self.shape, self.dtype, self.chunks = arr.shape, arr.dtype, arr.chunks

    def __getitem__(self, item: Any) -> Any:
        try:
            return self._arr[item]
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, MLArrayError):  # already says what went wrong (e.g. a remote read's RemoteError)
                raise
            raise CorruptFileError(self._path, f"{self._key} cannot be read ({exc})") from None
