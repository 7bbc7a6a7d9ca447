"""The ``MLArray`` class: an N-D array with MLArray metadata, in memory or backed by an ``.mla`` file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from . import _integrity, _region_write, _writer
from ._errors import CorruptFileError, MetadataError, MLArrayError
from ._container import base_offset
from ._frame_check import check_frame
from ._format import CURRENT_FORMAT, LegacyPickleFormat, detect_format
from ._levels import LevelArray, level_loader
from ._limits import gc_paused
from ._memory import check_read
from .meta import Meta, MetaSpatial, spatial_axes_of

__all__ = ["MLArray", "MLARRAY_SUFFIX", "MLARRAY_DEFAULT_PATCH_SIZE"]

MLARRAY_SUFFIX = "mla"
MLARRAY_DEFAULT_PATCH_SIZE = 192
_MMAP_MODES = ("r", "r+", "c", None)
_PathLike = Union[str, os.PathLike]


class MLArray:
    """An N-dimensional image with standardized metadata, stored as one ``.mla`` file.

    ``MLArray(array, spacing=..., ...)`` wraps an in-memory array; ``MLArray(path)`` /
    ``MLArray.load(path)`` reads a file into memory; ``MLArray.open(path, mmap_mode="r")``
    memory-maps it and reads only the chunks you slice; ``MLArray.create`` makes a new file
    to be filled region by region.
    """

    def __init__(self, array=None, spacing=None, origin=None, direction=None, affine=None,
                 meta: Optional[Union[Meta, dict]] = None, axis_labels=None, copy: Optional["MLArray"] = None,
                 patch_size: Any = "default", chunk_size=None, block_size=None, cparams=None, dparams=None,
                 compressed: bool = True) -> None:
        self.filepath: Optional[str] = None
        self.mode: Optional[str] = None
        self.mmap_mode: Optional[str] = None
        self._data = None
        self._format = CURRENT_FORMAT
        self._saved_meta_json: Optional[str] = None
        self._data_dirty = False
        self._level_cache: Optional[list[LevelArray]] = None
        self._verifier: Optional[_integrity.ChunkVerifier] = None
        self._checksums = None
        self._sums_expected: Optional[bool] = None  # the metadata's record that chunk checksums exist
        self._layout = dict(patch_size=patch_size, chunk_size=chunk_size, block_size=block_size,
                            cparams=cparams, dparams=dparams)
        if isinstance(array, (str, os.PathLike)):
            given = [n for n, v in (("spacing", spacing), ("origin", origin), ("direction", direction),
                                    ("affine", affine), ("meta", meta), ("axis_labels", axis_labels),
                                    ("copy", copy), ("chunk_size", chunk_size), ("block_size", block_size),
                                    ("cparams", cparams), ("dparams", dparams)) if v is not None]
            if patch_size != "default":
                given.append("patch_size")
            if given:
                raise MLArrayError(f"{', '.join(given)} cannot be set when loading a file ({array}); "
                                   "load it, then change the metadata, or build MLArray(array, ...) from to_numpy()")
            self._load_into(array)
            return
        self._meta = _coerce_meta(meta)
        if array is not None:
            arr = array if isinstance(array, np.ndarray) or _is_lazy_array(array) else np.asarray(array)
            self._data = arr
        self._apply_geometry(spacing, origin, direction, affine, axis_labels)
        if copy is not None:
            self._meta.copy_from(copy.meta)
        self._meta.has_array = self._data is not None
        self._validate()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def open(cls, filepath: _PathLike, mode: str = "r", mmap_mode: Optional[str] = "r",
             dparams=None, verify: Union[bool, str] = "lazy") -> "MLArray":
        """Open a file lazily. ``mmap_mode``: ``"r"`` read-only, ``"r+"`` read/write in place
        (regions and metadata), ``"c"`` copy-on-write (changes stay in memory), ``None`` plain I/O
        (then ``mode="a"`` allows writes). ``verify``: ``"lazy"`` checks each chunk's checksum when
        a read first touches it, ``True`` checks every chunk now, ``False`` skips checks."""
        if mode not in ("r", "a"):
            raise MLArrayError(f"mode={mode!r} is not supported; use 'r' or 'a' (or mmap_mode='r+')")
        if mmap_mode not in _MMAP_MODES:
            raise MLArrayError(f"mmap_mode={mmap_mode!r} is not supported; use 'r', 'r+', 'c' or None")
        self = cls.__new__(cls)
        self._init_empty()
        path = _check_path(filepath, must_exist=True)
        store = _open_store(path, mode=mode, mmap_mode=mmap_mode, dparams=dparams)
        self._attach(store, path, mode, mmap_mode)
        self._setup_verifier(verify)
        return self

    def _setup_verifier(self, verify) -> None:
        self._verifier = None
        self._checksums = None
        if verify and self._meta.has_array:
            sums = _integrity.read_checksums(self._store, self.filepath, self._sums_expected)
            self._checksums = sums  # without checksums, only chunk headers are checked
            self._verifier = _integrity.ChunkVerifier(self._store, self.filepath, None if sums is None else sums.chunks)
            if verify is True:
                self._verifier.check_all()

    @classmethod
    def load(cls, filepath: _PathLike, dparams=None) -> "MLArray":
        """Read a whole file into memory (decompressed); the result is independent of the file."""
        return cls(filepath)

    @classmethod
    def create(cls, filepath: _PathLike, shape: Sequence[int], dtype, meta=None, mmap_mode: str = "w+",
               patch_size: Any = "default", chunk_size=None, block_size=None, cparams=None, dparams=None,
               spacing=None, origin=None, direction=None, affine=None, axis_labels=None,
               fill_value=0) -> "MLArray":
        """Create a new file of ``shape``/``dtype`` (filled with ``fill_value``) to be written in place.

        Statistics and the pyramid are computed when the file is closed.
        """
        if mmap_mode != "w+":
            raise MLArrayError(f"create() needs mmap_mode='w+', got {mmap_mode!r}")
        path = _check_path(filepath, must_exist=False)
        proto = cls(None, spacing=spacing, origin=origin, direction=direction, affine=affine, meta=meta,
                    axis_labels=axis_labels)
        shape = tuple(int(s) for s in shape)
        proto._meta.validate(len(shape))
        _writer.create_empty(path, shape, np.dtype(dtype), proto._meta, patch_size=patch_size,
                             chunk_size=chunk_size, block_size=block_size, cparams=cparams, fill_value=fill_value)
        self = cls.open(path, mmap_mode="r+", dparams=dparams)
        self._data_dirty = True  # stats/pyramid describe the fill value only until close()
        return self

    def _init_empty(self) -> None:
        MLArray.__init__(self)

    def _load_into(self, filepath: _PathLike) -> None:
        path = _check_path(filepath, must_exist=True)
        store = _open_store(path, mode="r", mmap_mode=None, dparams=None)
        self._meta, sums_expected = _read_meta(store, path)
        if self._meta.has_array:
            _integrity.verify_all(store, path, sums_expected)
        self._data = _read_all(store, path) if self._meta.has_array else None
        self._format = CURRENT_FORMAT

    def _attach(self, store, path: str, mode: str, mmap_mode: Optional[str]) -> None:
        self._format = detect_format(store, path)
        self._meta, self._sums_expected = _read_meta(store, path, self._format)
        self._data = store if self._meta.has_array else None
        self._store = store
        self.filepath, self.mode, self.mmap_mode = path, mode, mmap_mode
        self._saved_meta_json = _meta_json(self._meta)

    # ------------------------------------------------------------------ metadata
    @property
    def meta(self) -> Meta:
        return self._meta

    @meta.setter
    def meta(self, value) -> None:
        m = _coerce_meta(value)
        m.blosc2, m.pyramid, m.has_array = self._meta.blosc2, self._meta.pyramid, self._meta.has_array
        m.spatial.shape = self._meta.spatial.shape
        m.validate(self.ndim if self._data is not None else None)
        self._meta = m

    def _apply_geometry(self, spacing, origin, direction, affine, axis_labels) -> None:
        sp = self._meta.spatial
        if axis_labels is not None:
            sp.axis_labels = MetaSpatial(axis_labels=axis_labels).axis_labels
        if affine is not None:
            if any(v is not None for v in (spacing, origin, direction)):
                merged = MetaSpatial(spacing=spacing, origin=origin, direction=direction, affine=affine)
            else:
                merged = MetaSpatial(affine=affine)
            sp.spacing, sp.origin, sp.direction = merged.spacing, merged.origin, merged.direction
        else:
            if spacing is not None:
                sp.spacing = MetaSpatial(spacing=spacing).spacing
            if origin is not None:
                sp.origin = MetaSpatial(origin=origin).origin
            if direction is not None:
                sp.direction = MetaSpatial(direction=direction).direction

    def _validate(self) -> None:
        ndim = self.ndim if self._data is not None else None
        if ndim is not None:
            self._meta.spatial.shape = list(self.shape)
        self._meta.validate(ndim)

    @property
    def spacing(self) -> Optional[list[float]]:
        """Voxel size per spatial axis (a live list: ``image.spacing[1] = 5.3`` works)."""
        return self._meta.spatial.spacing

    @spacing.setter
    def spacing(self, value) -> None:
        self._apply_geometry(value, None, None, None, None)
        self._validate()

    @property
    def origin(self) -> Optional[list[float]]:
        return self._meta.spatial.origin

    @origin.setter
    def origin(self, value) -> None:
        self._apply_geometry(None, value, None, None, None)
        self._validate()

    @property
    def direction(self) -> Optional[list[list[float]]]:
        return self._meta.spatial.direction

    @direction.setter
    def direction(self, value) -> None:
        self._apply_geometry(None, None, value, None, None)
        self._validate()

    @property
    def affine(self) -> np.ndarray:
        """``(n+1, n+1)`` index-to-world matrix over the spatial axes (identity when unknown)."""
        a = self._meta.spatial.affine
        if a is None:
            return np.eye(self.spatial_ndim + 1)
        return np.asarray(a)

    @affine.setter
    def affine(self, value) -> None:
        self._apply_geometry(None, None, None, value, None)
        self._validate()

    @property
    def axis_labels(self) -> Optional[list[str]]:
        return self._meta.spatial.axis_labels

    @property
    def spatial_axes(self) -> list[int]:
        return spatial_axes_of(self._meta.spatial.axis_labels, self.ndim)

    @property
    def spatial_ndim(self) -> int:
        if self._data is None:
            return self._meta.spatial.spatial_ndim or 0
        return len(self.spatial_axes)

    # ------------------------------------------------------------------ array access
    @property
    def shape(self) -> tuple[int, ...]:
        if self._data is None:
            return tuple(self._meta.spatial.shape or ()) if self._meta.has_array else ()
        return tuple(self._data.shape)

    @property
    def dtype(self) -> Optional[np.dtype]:
        return None if self._data is None else np.dtype(self._data.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of an MLArray without array data")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def _require_data(self):
        if self._data is None:
            raise MLArrayError("this MLArray holds metadata only (no array); "
                               "create it with an array to read or write voxels")
        return self._data

    def __getitem__(self, key) -> np.ndarray:
        data = self._require_data()
        if not isinstance(data, np.ndarray):  # a file may declare any shape: refuse what cannot fit
            check_read(self.filepath or "<array>", self.shape, self.dtype, key, "this read")
        if self._verifier is not None:
            self._verifier.check_key(key)
        try:
            out = data[key]
        except (RuntimeError, ValueError) as exc:
            if self.filepath and not isinstance(data, np.ndarray):
                raise CorruptFileError(self.filepath, f"the compressed data cannot be read ({exc})") from None
            raise
        return np.asarray(out)

    def __setitem__(self, key, value) -> None:
        data = self._require_data()
        if self.filepath is not None and self.mmap_mode not in ("r+", "c") and self.mode != "a":
            raise MLArrayError(f"{self.filepath} is open read-only; open it with mmap_mode='r+' to write regions")
        if self._verifier is not None or (self.filepath is not None and not self._data_dirty):
            self._verifier = None  # chunks change now; close() records new checksums
            if self.filepath is not None and self._writable():
                _integrity.invalidate(self._store, self.filepath)
        if isinstance(data, np.ndarray) or not _region_write.set_basic(data, key, value):
            data[key] = value
        self._data_dirty = True
        self._level_cache = None

    def to_numpy(self) -> np.ndarray:
        """The whole array as numpy (decompresses everything for file-backed arrays)."""
        data = self._require_data()
        if isinstance(data, np.ndarray):
            return data
        check_read(self.filepath or "<array>", self.shape, self.dtype, Ellipsis, "reading the whole array")
        return np.asarray(data[...])

    def __array__(self, dtype=None, copy=None):
        out = self.to_numpy()
        return out if dtype is None else out.astype(dtype, copy=False)

    # ------------------------------------------------------------------ pyramid
    @property
    def levels(self) -> list[LevelArray]:
        """Lazy per-level arrays, finest first (level 0 is the base array)."""
        if self._level_cache is not None:
            return self._level_cache
        data = self._require_data()
        view = data if self._verifier is None else _integrity.VerifiedArray(data, self._verifier)
        base = LevelArray(self.shape, self.dtype, [1.0] * self.ndim, lambda: view, 0,
                          chunks=getattr(data, "chunks", None), path=self.filepath)
        out = [base]
        store = getattr(self, "_store", None)
        if store is not None and not self._data_dirty:
            sums = getattr(self, "_checksums", None)
            for k, lv in enumerate(self._meta.pyramid.levels, start=1):
                crcs = None if sums is None else sums.levels.get(str(k))
                out.append(LevelArray(lv["shape"], self.dtype, lv["scale"], level_loader(
                    self.filepath, k, lv, self.dtype, crcs, verify=self._verifier is not None), k, path=self.filepath))
        self._level_cache = out
        return out

    # ------------------------------------------------------------------ saving
    def save(self, filepath: _PathLike, *, pyramid: Optional[bool] = None, stats: bool = True,
             progress: Optional[Callable[[int, int], None]] = None, levels: Optional[Sequence] = None) -> None:
        """Write to ``filepath`` atomically (temp file + fsync + rename): a crash keeps the old file.

        Builds statistics and (for large images, or with ``pyramid=True``) the resolution pyramid;
        ``levels`` stores a source's own pyramid (finest first) instead.
        """
        path = _check_path(filepath, must_exist=False)
        self._validate()
        data = self._data
        layout = dict(self._layout)
        if layout["patch_size"] == "default" and layout["chunk_size"] is None and self._meta.blosc2.patch_size:
            layout["patch_size"] = self._meta.blosc2.patch_size  # keep the file's layout on re-save
        _writer.write_file(path, data, self._meta, pyramid=pyramid, stats=stats, progress=progress, levels=levels,
                           **layout)
        if self.filepath is None:
            return
        # Saving over our own source: the open mapping still reads the old (unlinked) inode; reattach.
        if os.path.abspath(path) == os.path.abspath(self.filepath):
            store = _open_store(path, mode=self.mode or "r", mmap_mode=self.mmap_mode, dparams=None)
            self._attach(store, path, self.mode or "r", self.mmap_mode)
            self._setup_verifier("lazy")
            self._data_dirty = False
            self._level_cache = None

    def flush(self) -> None:
        """Write changed metadata (and refresh stats/pyramid after region writes) into the open file."""
        if self.filepath is None or not self._writable():
            return
        if self._format is LegacyPickleFormat:
            if self._data_dirty or _meta_json(self._meta) != self._saved_meta_json:
                raise MLArrayError(f"{self.filepath} uses the legacy pickle format, which mlarray never writes; "
                                   "save a converted copy with MLArray.open(path).save(new_path)")
            return
        if self._data_dirty:
            self._rewrite_derived()
            return
        text = _meta_json(self._meta)
        if text != self._saved_meta_json:
            self._validate()
            CURRENT_FORMAT.write_mapping(self._store, json.loads(text))
            self._saved_meta_json = text

    def _rewrite_derived(self) -> None:
        """After region writes: new stats, pyramid and checksums in a new file swapped in atomically.

        The levels sit in front of the base frame, so they cannot grow in place; the base frame's
        compressed bytes are copied unchanged behind the new levels.
        """
        self._validate()
        had_pyramid = bool(self._meta.pyramid.levels)
        levels = _writer.derive(self._store, self._meta, pyramid=True if had_pyramid else None)
        path, mode, mmap_mode = self.filepath, self.mode, self.mmap_mode
        offset = base_offset(path)
        self._store = self._data = None  # release the mapping so every write has reached the file
        self._level_cache = None
        _writer.rewrite(path, self._meta, levels, offset)
        self._attach(_open_store(path, mode=mode, mmap_mode=mmap_mode, dparams=None), path, mode, mmap_mode)
        self._setup_verifier("lazy")
        self._data_dirty = False

    def _writable(self) -> bool:
        return self.mmap_mode == "r+" or (self.mmap_mode is None and self.mode == "a")

    def close(self) -> None:
        """Flush changes (if opened writable) and release the file."""
        if getattr(self, "_store", None) is not None:
            self.flush()
        self._store = None
        self._data = None
        self._level_cache = None
        self._verifier = None
        self.filepath = None

    def __enter__(self) -> "MLArray":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __reduce__(self):
        # A file-backed read-only array pickles as its path, so DataLoader workers reopen the
        # file instead of receiving a copy of the data.
        if self.filepath is not None and self.mmap_mode in ("r", None) and not self._data_dirty:
            return (MLArray.open, (self.filepath, self.mode or "r", self.mmap_mode))
        data = None if self._data is None else self.to_numpy()
        return (_from_state, (data, self._meta.to_mapping()))

    def __repr__(self) -> str:
        where = f", file={self.filepath!r}" if self.filepath else ""
        if self._data is None:
            return f"MLArray(metadata only{where})"
        return f"MLArray(shape={self.shape}, dtype={self.dtype}, spacing={self.spacing}{where})"


# ---------------------------------------------------------------------- module helpers

def _from_state(data, mapping) -> MLArray:
    return MLArray(data, meta=Meta.from_mapping(mapping))  # data is None for metadata-only arrays


def _coerce_meta(meta) -> Meta:
    if meta is None:
        return Meta()
    if isinstance(meta, Meta):
        return meta.copy()
    if isinstance(meta, dict):
        # The published package's documented behaviour: a plain dict is the source header.
        return Meta(source=meta)
    raise MetadataError("meta", meta, "must be a Meta or a dict", "pass Meta(...) or a dict of source metadata")


def _is_lazy_array(a) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype") and hasattr(a, "__getitem__")


def _meta_json(meta: Meta) -> str:
    return json.dumps(meta.to_mapping(), sort_keys=True)


def _check_path(filepath, must_exist: bool) -> str:
    path = os.fspath(filepath)
    if not str(path).endswith(f".{MLARRAY_SUFFIX}"):
        raise MLArrayError(f"{path}: MLArray files end in '.{MLARRAY_SUFFIX}'; rename the target")
    if must_exist and not Path(path).is_file():
        raise FileNotFoundError(f"No MLArray file at {path}")
    return str(path)


def _open_store(path: str, mode: str, mmap_mode: Optional[str], dparams):
    import blosc2

    from ._writer import resolve_dparams

    kwargs: dict[str, Any] = {"mode": mode, "dparams": resolve_dparams(dparams)}
    if mmap_mode is not None:
        kwargs["mmap_mode"] = mmap_mode
    for attempt in range(3):
        ino = _inode(path)
        offset = base_offset(path)  # raises its own precise CorruptFileError
        try:
            check_frame(path, offset)  # damage C-Blosc2 would crash on (see _frame_check)
            store = blosc2.open(path, offset=offset, **kwargs)
            break
        except Exception as exc:
            # Blosc2 opens the path more than once; an atomic save replacing the file in between
            # mixes two files. If the file was replaced meanwhile, open the new one again.
            if attempt < 2 and ino is not None and _inode(path) != ino:
                continue
            if isinstance(exc, CorruptFileError):
                raise
            raise CorruptFileError(path, f"is not a readable Blosc2 frame ({type(exc).__name__}: {exc})") from None
    if not isinstance(store, blosc2.NDArray):
        raise CorruptFileError(path, f"holds a {type(store).__name__}, not a Blosc2 NDArray")
    return store


def _inode(path: str):
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino, st.st_mtime_ns)
    except OSError:
        return None


def _read_meta(store, path: str, fmt=None) -> tuple[Meta, Optional[bool]]:
    """The file's metadata, and whether its metadata records chunk checksums (None: not recorded)."""
    fmt = fmt or detect_format(store, path)
    mapping, sums_expected = fmt.read_document(store, path)
    try:
        with gc_paused():  # millions of small containers, nothing cyclic (see _limits.gc_paused)
            meta = Meta.from_mapping(mapping)
    except MetadataError as exc:
        raise CorruptFileError(path, f"has invalid metadata: {exc}") from None
    except (TypeError, ValueError, OverflowError, RecursionError, MemoryError) as exc:  # any other failure
        raise CorruptFileError(path, f"has invalid metadata ({type(exc).__name__}: {exc})") from None
    if meta.has_array:
        try:
            shape = tuple(store.shape)
        except Exception as exc:
            raise CorruptFileError(path, f"the array header cannot be read ({exc})") from None
        if meta.spatial.shape is not None and tuple(meta.spatial.shape) != shape:
            raise CorruptFileError(path, f"metadata says shape {meta.spatial.shape} but the array is {list(shape)}")
        for k, lv in enumerate(meta.pyramid.levels, start=1):  # a level of other rank cannot be a level of this array
            if len(lv["shape"]) != len(shape):
                raise CorruptFileError(path, f"pyramid level {k} has {len(lv['shape'])} axes but the array has "
                                             f"{len(shape)} (damaged metadata)")
        # The frame header is not checksummed; a flipped chunk/block size or dtype would decode every
        # chunk into the wrong places or values. The metadata records them, so compare the two.
        for name, recorded, actual in (("chunk", meta.blosc2.chunk_size, list(store.chunks)),
                                       ("block", meta.blosc2.block_size, list(store.blocks)),
                                       ("dtype", meta.blosc2.dtype, np.dtype(store.dtype).str)):
            if recorded is not None and recorded != actual:
                raise CorruptFileError(path, f"the array header says {name}{'s' * (name != 'dtype')} {actual} but "
                                             f"the metadata recorded {recorded} (damaged header)")
    return meta, sums_expected


def _read_all(store, path: str) -> np.ndarray:
    check_read(path, store.shape, store.dtype, Ellipsis, "loading the whole array")
    try:
        return np.asarray(store[...])
    except Exception as exc:
        raise CorruptFileError(path, f"the compressed data cannot be read ({type(exc).__name__}: {exc})") from None
