"""The ``MLArray`` class: an N-D array with MLArray metadata, in memory or backed by an ``.mla`` file."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
from numpy.typing import DTypeLike

from ._data import read_path as _read_path
from ._data import region_write as _region_write
from ._data import writer as _writer
from ._data.array_io import MLARRAY_SUFFIX, check_path, open_store, read_all, read_compressed, read_meta
from ._data.levels import LevelArray, level_loader
from ._data.memory import check_read
from ._errors import CorruptFileError, MetadataError, MLArrayError, NoArrayError
from ._file import integrity as _integrity
from ._file import open_cache as _open_cache
from ._file.atomic import atomic_output
from ._file.container import base_offset
from ._file.format import CURRENT_FORMAT, PublishedPickleFormat, detect_format
from ._published.array_api import PublishedArrayAPI
from ._remote import is_url, open_url_store
from ._types import PathLike as _PathLike
from ._untrusted.limits import metadata_limits_key
from .meta import Meta, MetaBlosc2, spatial_axes_of

__all__ = ["MLArray", "MLARRAY_SUFFIX", "MLARRAY_DEFAULT_PATCH_SIZE"]

MLARRAY_DEFAULT_PATCH_SIZE = 192
_MMAP_MODES = ("r", "r+", "c", None)
# The voxels: a numpy array, an in-memory or file-backed blosc2.NDArray, or a remote store (mlarray._remote).
# blosc2 ships no type hints, so this cannot be narrower than Any for a type checker.
_Store = Any


class MLArray(PublishedArrayAPI):
    """An N-dimensional image with standardized metadata, stored as one ``.mla`` file.

    ``MLArray(array, spacing=..., ...)`` wraps an in-memory array (Blosc2-compressed in memory
    unless ``compressed=False``); ``MLArray(path)`` / ``MLArray.load(path)`` reads a file into
    memory; ``MLArray.open(path, mmap_mode="r")`` memory-maps it and reads only the chunks you
    slice; ``MLArray.create`` makes a new file to be filled region by region.

    Parameters
    ----------
    array : array_like, str, os.PathLike or None
        The voxels (any numpy-convertible array, a Blosc2 array), a path to load, or None for a
        metadata-only image (boxes, classification results).
    spacing : sequence of float, optional
        Voxel size, one value per spatial axis.
    origin : sequence of float, optional
        The world position of the first voxel, one value per spatial axis.
    direction : sequence of sequence of float, optional
        Direction cosines (columns: the world direction of each spatial array axis).
    affine : array_like, optional
        The homogeneous voxel-to-world matrix instead of ``spacing``/``origin``/``direction``
        (giving both is refused).
    coord_system : str, optional
        The world frame the geometry is in (``"RAS"``, ``"LPS"``, ...; ``meta.spatial.coord_system``).
        A segmentation made on an image's grid needs the image's frame as well as its
        spacing/origin/direction: viewers place an anatomical file in the patient frame, a file
        without one in its own axes.
    meta : Meta or dict, optional
        Metadata; a plain dict is taken as the source header (the published package's convention).
    axis_labels : sequence of str, optional
        One label per array axis (``"spatial_z"``, ``"channel"``, ``"temporal"``, ...).
    copy : MLArray, optional
        Take metadata and geometry from this image.
    patch_size : int, sequence of int, "default" or None
        Training patch size the chunk and block layout is derived from.
    chunk_size : sequence of int, optional
        Explicit Blosc2 chunk shape instead of the one derived from ``patch_size``.
    block_size : sequence of int, optional
        Explicit Blosc2 block shape instead of the one derived from ``patch_size``.
    cparams : dict, optional
        Blosc2 compression parameters.
    dparams : dict, optional
        Blosc2 decompression parameters.
    compressed : bool
        Keep voxels Blosc2-compressed in memory (True) or as a numpy array.

    Raises
    ------
    MetadataError
        Geometry or metadata that is inconsistent (the message names the field and the remedy).
    MLArrayError
        Layout options given while loading a file.
    """

    filepath: Optional[str]
    mode: Optional[str]
    mmap_mode: Optional[str]
    _data: Optional[_Store]
    _fstore: Optional[_Store]  # the open file's base array (None for in-memory arrays)
    _saved_meta_json: Optional[str]
    _level_cache: Optional[list[LevelArray]]
    _verifier: Optional[_integrity.ChunkVerifier]
    _checksums: Optional[_integrity.Checksums]
    _sums_expected: Optional[bool]  # the metadata's record that chunk checksums exist

    def __init__(self, array: Any = None, spacing: Optional[Sequence[float]] = None,
                 origin: Optional[Sequence[float]] = None, direction: Optional[Sequence[Sequence[float]]] = None,
                 affine: Any = None, meta: Optional[Union[Meta, dict]] = None,
                 axis_labels: Optional[Sequence[str]] = None, copy: Optional["MLArray"] = None,
                 patch_size: Any = "default", chunk_size: Optional[Sequence[int]] = None,
                 block_size: Optional[Sequence[int]] = None, cparams: Optional[dict] = None,
                 dparams: Optional[dict] = None, compressed: bool = True, *,
                 coord_system: Optional[str] = None) -> None:
        self._init_state(dict(patch_size=patch_size, chunk_size=chunk_size, block_size=block_size,
                              cparams=cparams, dparams=dparams))
        if isinstance(array, (str, os.PathLike)):
            given = [n for n, v in (("spacing", spacing), ("origin", origin), ("direction", direction),
                                    ("affine", affine), ("coord_system", coord_system), ("meta", meta),
                                    ("axis_labels", axis_labels),
                                    ("copy", copy), ("chunk_size", chunk_size), ("block_size", block_size),
                                    ("cparams", cparams), ("dparams", dparams)) if v is not None]
            if patch_size != "default":
                given.append("patch_size")
            if given:
                raise MLArrayError(f"{', '.join(given)} cannot be set when loading a file ({array}); "
                                   "load it, then change the metadata, or build MLArray(array, ...) from to_numpy()")
            self._load_into(array, compressed=compressed, dparams=dparams)
            return
        self._meta = _coerce_meta(meta)
        self._apply_geometry(spacing, origin, direction, affine, axis_labels, coord_system)
        if copy is not None:
            self._meta.copy_from(copy.meta)
        if array is not None:
            arr = array if isinstance(array, np.ndarray) or _is_lazy_array(array) else np.asarray(array)
            self._meta.record_array(arr.shape)
            self._validate(ndim=arr.ndim)
            self._data = self._compressed(arr) if compressed and isinstance(arr, np.ndarray) else arr
        if self._data is None:
            self._meta.record_array(None)
        self._validate()

    def _compressed(self, arr: np.ndarray, **layout: Any) -> _Store:
        """``arr`` as an in-memory Blosc2 array with this array's layout; records it in ``meta.blosc2``."""
        layout = {**self._layout, **layout}
        return _writer.compress_in_memory(arr, self._meta, **layout)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def open(cls, filepath: _PathLike, mode: str = "r", mmap_mode: Optional[str] = "r",
             dparams: Optional[dict] = None, verify: Union[bool, str] = "lazy",
             cache_dir: Optional[_PathLike] = None) -> "MLArray":
        """Open a file lazily. ``mmap_mode``: ``"r"`` read-only, ``"r+"`` read/write in place
        (regions and metadata), ``"c"`` copy-on-write (changes stay in memory), ``None`` plain I/O
        (then ``mode="a"`` allows writes). ``verify``: ``"lazy"`` checks each chunk's checksum when
        a read first touches it, ``True`` checks every chunk now, ``False`` skips checks.
        ``cache_dir`` (URLs only; default ``MLARRAY_REMOTE_CACHE_DIR``): a folder keeping fetched
        chunks between runs and processes (:mod:`mlarray.remote`); local files ignore it."""
        if mode not in ("r", "a"):
            raise MLArrayError(f"mode={mode!r} is not supported by open(); use 'r' or 'a' (or mmap_mode='r+'), "
                               "and MLArray.create() for new files")
        if mmap_mode not in _MMAP_MODES:
            raise MLArrayError(f"mmap_mode={mmap_mode!r} is not supported by open(); use 'r', 'r+', 'c' or None "
                               "(and MLArray.create() for new files)")
        self = cls.__new__(cls)
        self._init_empty()
        if is_url(filepath):  # http(s)://, s3://...: read-only, lazy, chunks verified as they arrive (_remote)
            self._attach(open_url_store(filepath, mode, mmap_mode, verify, cache_dir), filepath, mode, mmap_mode)
            return self
        path = check_path(filepath, must_exist=True)
        reusable = mode == "r" and mmap_mode == "r" and verify is not True  # read-only: see _open_cache
        identity, checked_at = _open_cache.file_identity(path), _open_cache.now_ns()
        hit = _open_cache.reopen(path, identity, dparams, verify) if reusable else None
        if hit is not None:
            self._attach_known(hit, path)
            return self
        limits_key = metadata_limits_key() if reusable else None  # the limits this open checks against
        store = open_store(path, mode=mode, mmap_mode=mmap_mode, dparams=dparams)
        mapping = self._attach(store, path, mode, mmap_mode)
        self._setup_verifier(verify)
        if limits_key is not None and (verify or not self._meta.has_array):  # i.e. reusable
            _open_cache.remember_open(path, identity, checked_at, limits_key, store=store, fmt=self._format,
                                      mapping=mapping, meta_json=self._saved_meta_json,
                                      sums_expected=self._sums_expected, checksums=self._checksums,
                                      verifier=self._verifier)
        return self

    def _attach_known(self, hit: _open_cache.Reopened, path: str) -> None:
        """Read-only, from what an earlier open of the same unchanged file verified (see ``_open_cache``)."""
        known = hit.known
        self._format, self._sums_expected, self._checksums = known.fmt, known.sums_expected, known.checksums
        self.__dict__.pop("_meta_object", None)
        self.__dict__["_meta_mapping"] = known.mapping  # Meta built on first use (see _meta)
        self._fstore = hit.store
        self._data = hit.store if known.mapping.get("has_array") else None
        self.filepath, self.mode, self.mmap_mode = path, "r", "r"
        self._saved_meta_json = None  # read-only: flush() never compares it
        self._verifier = hit.verifier

    def _setup_verifier(self, verify: Union[bool, str]) -> None:
        self._verifier = None
        self._checksums = None
        path = self.filepath  # set by the open that calls this
        # a remote store checks each chunk as it arrives, against checksums it fetches when first needed
        # (mlarray._remote): reading them here would fetch every chunk's checksum with the open
        if verify and self._meta.has_array and path is not None and not is_url(path):
            sums = _integrity.read_checksums(self._fstore, path, self._sums_expected)
            self._checksums = sums  # without checksums, only chunk headers are checked
            chunks = None if sums is None else sums.chunks
            self._verifier = _integrity.ChunkVerifier(self._fstore, path, chunks)
            if verify is True:
                self._verifier.check_all()

    @classmethod
    def write_metadata(cls, filepath: _PathLike, meta: Union[Meta, dict]) -> None:
        """Replace the metadata of the ``.mla`` file at ``filepath`` atomically; its voxels stay untouched.

        ``meta`` is validated against the file's shape; the fields the library manages (layout, pyramid,
        shape, writer) stay the file's. The file is copied byte for byte beside itself, the copy's
        metadata replaced, and the copy renamed over the original: a crash leaves the old file whole,
        and readers that memory-map the old file keep reading it."""
        path = check_path(filepath, must_exist=True)
        new = _coerce_meta(meta)
        with atomic_output(path) as tmp:
            shutil.copyfile(path, tmp)
            with cls.open(tmp, mmap_mode="r+") as img:  # closing flushes the new metadata into the copy
                new.writer = img.meta.writer
                img.meta = new  # refused (nothing written) when it does not fit the file

    def verify(self) -> bool:
        """Check every chunk of the open file now against the checksums recorded when it was saved.

        Raises :class:`~mlarray.CorruptFileError` at the first damaged chunk. Returns True when every
        chunk matched (or the file holds no array), False when the file records no checksums to compare
        with: a file of the published 0.0.x package, or one whose region writes were never closed."""
        if self._fstore is None or self.filepath is None:
            raise MLArrayError("verify() checks an open file, and this MLArray is in memory (or closed); "
                               "open the file with MLArray.open(path) to verify it")
        if not self._meta.has_array:
            return True
        return _integrity.verify_all(self._fstore, self.filepath, self._sums_expected) is not None

    @property
    def format_version(self) -> Optional[int]:
        """Version of the file format the open file is in: 1 (current), 0 for a file of the published
        0.0.x package (pickle metadata, converted on the first write); None in memory."""
        return None if self.filepath is None else self._format.version

    @classmethod
    def load(cls, filepath: _PathLike, dparams: Optional[dict] = None, compressed: bool = True) -> "MLArray":
        """Read a whole file into memory, every chunk checked; the result is independent of the file.

        ``compressed=True`` keeps the compressed chunks (a Blosc2 array in memory, decompressed as
        you slice); ``compressed=False`` decompresses everything into a numpy array."""
        self = cls.__new__(cls)
        self._init_empty()
        self._load_into(filepath, compressed=compressed, dparams=dparams)
        return self

    @classmethod
    def create(cls, filepath: _PathLike, shape: Sequence[int], dtype: Any, meta: Optional[Union[Meta, dict]] = None,
               mode: str = "w", mmap_mode: Optional[str] = "w+", patch_size: Any = "default",
               chunk_size: Optional[Sequence[int]] = None, block_size: Optional[Sequence[int]] = None,
               cparams: Optional[dict] = None, dparams: Optional[dict] = None,
               spacing: Optional[Sequence[float]] = None, origin: Optional[Sequence[float]] = None,
               direction: Optional[Sequence[Sequence[float]]] = None, affine: Any = None,
               axis_labels: Optional[Sequence[str]] = None, fill_value: Any = 0,
               coord_system: Optional[str] = None) -> "MLArray":
        """Create a new file of ``shape``/``dtype`` (filled with ``fill_value``) to be written in place.

        Statistics and the pyramid are computed when the file is closed.

        Parameters
        ----------
        filepath : str or os.PathLike
            The ``.mla`` file to create.
        shape : sequence of int
            Array shape.
        dtype : numpy dtype or str
            Voxel type.
        meta : Meta or dict, optional
            Metadata (a dict is the source header).
        mode : str
            Must be ``"w"``.
        mmap_mode : {"w+", None}
            Memory-mapped writes (``"w+"``) or plain I/O (None).
        patch_size, chunk_size, block_size, cparams, dparams
            Layout and compression, as for :class:`MLArray`.
        spacing, origin, direction, affine, axis_labels, coord_system
            Geometry, as for :class:`MLArray`.
        fill_value : scalar
            Value of every voxel before it is written.

        Returns
        -------
        MLArray
            The open file; write regions with ``img[region] = values``, then ``close()``.
        """
        if mode != "w":
            raise MLArrayError(f"create() needs mode='w', got {mode!r}; open existing files with MLArray.open()")
        if mmap_mode not in ("w+", None):
            raise MLArrayError(f"create() needs mmap_mode='w+' or None, got {mmap_mode!r}; "
                               "open existing files with MLArray.open(path, mmap_mode='r+')")
        path = check_path(filepath, must_exist=False)
        proto = cls(None, spacing=spacing, origin=origin, direction=direction, affine=affine, meta=meta,
                    axis_labels=axis_labels, coord_system=coord_system)
        shape = tuple(int(s) for s in (shape if isinstance(shape, (list, tuple, np.ndarray)) else (shape,)))
        proto.meta.validate(len(shape))
        _writer.create_empty(path, shape, np.dtype(dtype), proto.meta, patch_size=patch_size,
                             chunk_size=chunk_size, block_size=block_size, cparams=cparams, fill_value=fill_value)
        self = cls.open(path, mode="r" if mmap_mode else "a", mmap_mode="r+" if mmap_mode else None,
                        dparams=dparams)
        self.mode, self.mmap_mode = mode, mmap_mode
        self._data_dirty = True  # stats/pyramid describe the fill value only until close()
        return self

    def _init_state(self, layout: dict) -> None:
        """Every attribute an instance has, before any data or metadata is attached."""
        self.filepath = self.mode = self.mmap_mode = None
        self._data = self._fstore = None
        self._format = CURRENT_FORMAT
        self._saved_meta_json = None
        self._data_dirty = False
        self._level_cache = None
        self._verifier = None
        self._checksums = None
        self._sums_expected = None
        self._layout = layout

    def _init_empty(self) -> None:
        # No Meta() here: open() attaches the file's at once, and building an empty one per open cost a
        # loader reading one small patch per file a measurable share of its time (docs/benchmarks.md).
        self._init_state(dict(patch_size="default", chunk_size=None, block_size=None, cparams=None, dparams=None))

    def _load_into(self, filepath: _PathLike, *, compressed: bool = False, dparams: Optional[dict] = None) -> None:
        if is_url(filepath):  # every chunk is fetched once, its checksum verified as it arrives (_remote)
            src = MLArray.open(filepath)
            self._meta, self._format = src.meta, CURRENT_FORMAT
            if src.meta.has_array:
                data = src.to_numpy()
                self._data = self._compressed(data, patch_size=None, chunk_size=list(src.meta.blosc2.chunk_size),
                                              block_size=list(src.meta.blosc2.block_size)) if compressed else data
            return
        path = check_path(filepath, must_exist=True)
        store = open_store(path, mode="r", mmap_mode=None, dparams=dparams)
        fmt = detect_format(store, path)
        self._meta, sums_expected = read_meta(store, path, fmt)
        if self._meta.has_array:
            checked = _integrity.verify_all(store, path, sums_expected)
            if compressed and checked is not None:
                self._data = read_compressed(store, path)  # every chunk's CRC matched: copy them as stored
            elif compressed:
                # No checksums (published 0.0.x files): decode every chunk once, so damage is refused
                # now, through the guarded path, instead of surfacing later from an in-memory copy.
                self._data = self._compressed(read_all(store, path), patch_size=None,
                                              chunk_size=list(store.chunks), block_size=list(store.blocks))
            else:
                self._data = read_all(store, path)
        self._format = CURRENT_FORMAT

    def _attach(self, store: _Store, path: str, mode: str, mmap_mode: Optional[str]) -> dict:
        """Attach the opened ``store``; returns the metadata mapping it holds (for ``_open_cache``)."""
        self._format = detect_format(store, path)
        self._meta, self._sums_expected = read_meta(store, path, self._format)
        self._data = store if self._meta.has_array else None
        self._fstore = store
        self.filepath, self.mode, self.mmap_mode = path, mode, mmap_mode
        mapping = self._meta.to_mapping()  # also what _open_cache keeps: built once (millions of values are slow)
        self._saved_meta_json = json.dumps(mapping, sort_keys=True)
        self._meta.validate(len(store.shape) if self._meta.has_array else None)
        return mapping

    @property
    def _store(self) -> Optional[_Store]:
        """The array's storage: numpy (uncompressed), an in-memory Blosc2 array, or the open file's.
        Read-only: the published package's tests read it; nothing outside this class sets it."""
        return self._data if self._data is not None else self._fstore

    # ------------------------------------------------------------------ metadata
    @property
    def _meta(self) -> Meta:
        # An open that reused a verified open (_open_cache) keeps the checked mapping and builds the
        # Meta on first use: a loader that only reads a patch never pays for building it.
        m = self.__dict__.get("_meta_object")
        if m is None and "_meta_mapping" in self.__dict__:
            m = self.__dict__["_meta_object"] = Meta.from_mapping(self.__dict__.pop("_meta_mapping"))
        if m is None:
            raise AttributeError("_meta")
        return m

    @_meta.setter
    def _meta(self, value: Meta) -> None:
        self.__dict__["_meta_object"] = value
        self.__dict__.pop("_meta_mapping", None)

    @property
    def meta(self) -> Meta:
        return self._meta

    @meta.setter
    def meta(self, value: Union[Meta, dict]) -> None:
        m = _coerce_meta(value)
        m.keep_managed_from(self._meta)
        m.validate(self.ndim if self._data is not None else None)
        self._meta = m

    def _apply_geometry(self, spacing: Optional[Sequence[float]], origin: Optional[Sequence[float]],
                        direction: Optional[Sequence[Sequence[float]]], affine: Any,
                        axis_labels: Optional[Sequence[str]], coord_system: Optional[str] = None) -> None:
        sp = self._meta.spatial
        if axis_labels is not None:
            sp.set_axis_labels(axis_labels)
        sp.set_geometry(spacing, origin, direction, affine)
        if coord_system is not None:
            sp.coord_system = coord_system

    def _validate(self, ndim: Optional[int] = None) -> None:
        if ndim is None and self._data is not None:
            ndim = self._data.ndim
            self._meta.record_array(self._data.shape)
        self._meta.validate(ndim)

    def _set_part(self, name: str, value: Any) -> None:
        sp = self._meta.spatial
        if value is None:
            sp.clear_geometry(name)
            return
        part = {n: (value if n == name else None) for n in ("spacing", "origin", "direction")}
        self._apply_geometry(part["spacing"], part["origin"], part["direction"], None, None)
        self._validate()

    @property
    def spacing(self) -> Optional[list[float]]:
        """Voxel size per spatial axis (a live list: ``image.spacing[1] = 5.3`` works)."""
        return self._meta.spatial.spacing

    @spacing.setter
    def spacing(self, value: Optional[Sequence[float]]) -> None:
        self._set_part("spacing", value)

    @property
    def origin(self) -> Optional[list[float]]:
        return self._meta.spatial.origin

    @origin.setter
    def origin(self, value: Optional[Sequence[float]]) -> None:
        self._set_part("origin", value)

    @property
    def direction(self) -> Optional[list[list[float]]]:
        return self._meta.spatial.direction

    @direction.setter
    def direction(self, value: Optional[Sequence[Sequence[float]]]) -> None:
        self._set_part("direction", value)

    @property
    def coord_system(self) -> Optional[str]:
        """The world frame of the geometry (``meta.spatial.coord_system``: ``"RAS"``, ``"LPS"``, ...)."""
        return self._meta.spatial.coord_system

    @coord_system.setter
    def coord_system(self, value: Optional[str]) -> None:
        self._meta.spatial.coord_system = value
        self._validate()

    @property
    def affine(self) -> Optional[list[list[float]]]:
        """``(n+1)×(n+1)`` index-to-world matrix over the spatial axes, as nested lists (identity
        where geometry is unknown). None without an array unless the metadata has geometry (boxes of a
        metadata-only file live in world space). ``np.asarray(image.affine)`` for numpy."""
        a = self._meta.spatial.affine
        if a is not None:
            return a
        if self._data is None and not self._meta.has_array:
            return None
        return np.eye(self.spatial_ndim + 1).tolist()

    @affine.setter
    def affine(self, value: Any) -> None:
        sp = self._meta.spatial
        if value is not None and not sp.geometry_from_affine and \
                any(v is not None for v in (sp.spacing, sp.origin, sp.direction)):
            raise MetadataError("spatial.affine", value, "cannot be set while spacing/origin/direction are set",
                                "set image.spacing = image.origin = image.direction = None first, "
                                "or assign image.meta.spatial.affine to replace the geometry")
        sp.affine = value
        self._validate()

    @property
    def axis_labels(self) -> Optional[list[str]]:
        return self._meta.spatial.axis_labels

    @property
    def spatial_axes(self) -> list[int]:
        return spatial_axes_of(self._meta.spatial.axis_labels, self.ndim or 0)

    @property
    def spatial_ndim(self) -> int:
        if self._data is None:
            return self._meta.spatial.spatial_ndim or 0
        return len(self.spatial_axes)

    # ------------------------------------------------------------------ array access
    @property
    def shape(self) -> Optional[tuple[int, ...]]:
        """The array's shape; None for a metadata-only ``MLArray``."""
        if self._data is None:
            shape = self._meta.spatial.shape
            return tuple(shape) if self._meta.has_array and shape is not None else None
        return tuple(self._data.shape)

    @property
    def dtype(self) -> Optional[np.dtype]:
        return None if self._data is None else np.dtype(self._data.dtype)

    @property
    def chunks(self) -> Optional[tuple[int, ...]]:
        """The chunk shape of the compressed (Blosc2) array: a read aligned to it decompresses each chunk once.
        None for an uncompressed (numpy) array and without array data."""
        chunks = getattr(self._data, "chunks", None)
        return None if chunks is None else tuple(int(c) for c in chunks)

    @property
    def ndim(self) -> Optional[int]:
        shape = self.shape
        return None if shape is None else len(shape)

    def __len__(self) -> int:
        """Length of the first axis (0 without an array, as in the published package)."""
        shape = self.shape
        if not shape:
            return 0
        return shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def _require_data(self) -> _Store:
        if self._data is None:
            raise NoArrayError("this MLArray holds no array data (metadata only, or closed); create it with an "
                               "array, or open the file again, to read or write voxels")
        return self._data

    def __getitem__(self, key: Any) -> np.ndarray:
        data = self._require_data()
        if not isinstance(data, np.ndarray):  # a file may declare any shape: refuse what cannot fit
            check_read(self.filepath or "<array>", tuple(data.shape), data.dtype, key, "this read")
        file_backed = data is self._fstore
        region = _read_path.plan(key, data.shape) if file_backed else None  # file-backed only
        if region is not None:  # ints and unit-step slices: the direct read (see _read_path)
            if self._verifier is not None:
                self._verifier.check_region(region)
            try:
                return _read_path.read(data, region)
            except (RuntimeError, ValueError) as exc:
                if isinstance(exc, MLArrayError):  # e.g. a remote file's RemoteError: keep its type
                    raise
                raise CorruptFileError(self.filepath, f"the compressed data cannot be read ({exc})") from None
        if self._verifier is not None:
            self._verifier.check_key(key)
        try:
            out = data[key]
        except (RuntimeError, ValueError) as exc:
            if self.filepath and not isinstance(data, np.ndarray) and not isinstance(exc, MLArrayError):
                raise CorruptFileError(self.filepath, f"the compressed data cannot be read ({exc})") from None
            raise
        return np.asarray(out)

    def __setitem__(self, key: Any, value: Any) -> None:
        data = self._require_data()
        if self.filepath is not None and not self._writable() and self.mmap_mode != "c":
            raise MLArrayError(f"{self.filepath} is open read-only; open it with mmap_mode='r+' to write regions")
        if self._format is PublishedPickleFormat and self.filepath is not None and self._writable():
            self._convert_legacy_in_place()
            data = self._data
        if self._verifier is not None or (self.filepath is not None and not self._data_dirty):
            self._verifier = None  # chunks change now; close() records new checksums
            if self.filepath is not None and self._writable():
                _integrity.invalidate(self._fstore, self.filepath)
                self._sums_expected = False  # what invalidate() recorded in the file
        if isinstance(data, np.ndarray) or not _region_write.set_basic(data, key, value):
            data[key] = value
        self._data_dirty = True
        self._level_cache = None

    def to_numpy(self) -> np.ndarray:
        """The whole array as numpy (decompresses everything for compressed arrays)."""
        data = self._require_data()
        if isinstance(data, np.ndarray):
            return data
        check_read(self.filepath or "<array>", tuple(data.shape), data.dtype, Ellipsis, "reading the whole array")
        return self[...]  # the verified read: chunk checksums, Blosc2 failures as CorruptFileError

    def __array__(self, dtype: Optional[DTypeLike] = None, copy: Optional[bool] = None) -> np.ndarray:
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
        base = LevelArray(tuple(data.shape), data.dtype, [1.0] * len(data.shape), lambda: view, 0,
                          chunks=getattr(data, "chunks", None), path=self.filepath)
        out = [base]
        path = self.filepath  # set whenever _fstore is
        if self._fstore is not None and path is not None and not self._data_dirty:
            sums = getattr(self, "_checksums", None)
            dtype = np.dtype(data.dtype)
            for k, lv in enumerate(self._meta.pyramid.levels, start=1):
                crcs = None if sums is None else sums.levels.get(str(k))
                out.append(LevelArray(lv["shape"], dtype, lv["scale"], level_loader(
                    path, k, lv, dtype, crcs, verify=self._verifier is not None, base=self._fstore),
                    k, path=path))
        self._level_cache = out
        return out

    # ------------------------------------------------------------------ saving
    def save(self, filepath: _PathLike, *, pyramid: Optional[bool] = None, stats: bool = True,
             progress: Optional[Callable[[int, int], None]] = None, levels: Optional[Sequence] = None,
             profile: Optional[str] = None) -> None:
        """Write to ``filepath`` atomically (temp file + fsync + rename): a crash keeps the old file.

        Builds statistics (unless you set your own) and, for large images or with ``pyramid=True``,
        the resolution pyramid; ``levels`` stores a source's own pyramid (finest first) instead.
        ``profile="training"`` writes a training copy: no pyramid (unless ``pyramid=True``) and ZSTD
        compression chosen for size, no larger than nnU-Net's Blosc2 store (``docs/training_profile.md``).
        """
        path = check_path(filepath, must_exist=False)
        self._validate()
        data = self._data
        layout = dict(self._layout)
        if layout["patch_size"] == "default" and layout["chunk_size"] is None and self._meta.blosc2.patch_size:
            layout["patch_size"] = list(self._meta.blosc2.patch_size)  # keep the file's layout on re-save
        _writer.write_file(path, data, self._meta, pyramid=pyramid, stats=stats, progress=progress, levels=levels,
                           profile=profile, **layout)
        if self.filepath is None:
            return
        # Saving over our own source: the open mapping still reads the old (unlinked) inode; reattach.
        if os.path.abspath(path) == os.path.abspath(self.filepath):
            mode, mmap_mode = self.mode or "r", self.mmap_mode
            store = open_store(path, mode=mode, mmap_mode=mmap_mode, dparams=None)
            self._attach(store, path, mode, mmap_mode)
            self._setup_verifier("lazy")
            self._data_dirty = False
            self._level_cache = None

    def flush(self) -> None:
        """Write changed metadata (and refresh stats/pyramid after region writes) into the open file."""
        if self.filepath is None or self._fstore is None or not self._writable():
            return
        if self._format is PublishedPickleFormat:
            if self._data_dirty or _meta_json(self._meta) != self._saved_meta_json:
                self._convert_legacy_in_place()
            else:
                return
        if self._data_dirty:
            self._rewrite_derived()
            return
        text = _meta_json(self._meta)
        if text != self._saved_meta_json:
            self._validate()
            CURRENT_FORMAT.write_mapping(self._fstore, json.loads(text))
            self._saved_meta_json = text

    def _convert_legacy_in_place(self) -> None:
        """First write to a published-package (pickle) file: replace it atomically with a v1 file.

        mlarray never writes pickle, and a legacy file cannot be edited in place without leaving it half
        legacy, half new. So its voxels and the metadata as currently edited go to a new file beside it
        that replaces it by rename (a crash before the rename leaves the legacy file untouched); then
        writing continues in the new file. ``meta`` stays the same object; its library-managed fields
        (layout, statistics the library computed, writer) are updated from the new file."""
        path, mode, mmap_mode = self._file_state()
        self._validate()
        _writer.write_file(path, self._data, self._meta)  # reads the legacy store while the new file is written
        self._fstore = self._data = None  # release the legacy mapping; its inode is gone after the rename
        self._level_cache = None
        store = open_store(path, mode=mode, mmap_mode=mmap_mode, dparams=None)
        new_meta, self._sums_expected = read_meta(store, path)
        self._meta.take_written(new_meta)
        self._fstore, self._data = store, (store if self._meta.has_array else None)
        self._format = CURRENT_FORMAT
        self._setup_verifier("lazy")
        self._saved_meta_json = None  # the new file holds the edited metadata already

    def _rewrite_derived(self) -> None:
        """After region writes: new stats, pyramid and checksums in a new file swapped in atomically.

        The levels sit in front of the base frame, so they cannot grow in place; the base frame's
        compressed bytes are copied unchanged behind the new levels.
        """
        self._validate()
        had_pyramid = bool(self._meta.pyramid.levels)
        levels = _writer.derive(self._fstore, self._meta, pyramid=True if had_pyramid else None)
        path, mode, mmap_mode = self._file_state()
        offset = base_offset(path)
        self._fstore = self._data = None  # release the mapping so every write has reached the file
        self._level_cache = None
        _writer.rewrite(path, self._meta, levels, offset)
        self._attach(open_store(path, mode=mode, mmap_mode=mmap_mode, dparams=None), path, mode, mmap_mode)
        self._setup_verifier("lazy")
        self._data_dirty = False

    def _file_state(self) -> tuple[str, str, Optional[str]]:
        """Path, mode and mmap mode of the open file, for the steps that only run on a file-backed array."""
        if self.filepath is None or self.mode is None:
            raise MLArrayError("this MLArray is not backed by an open file (it is in memory, or closed)")
        return self.filepath, self.mode, self.mmap_mode

    def _writable(self) -> bool:
        return self.mmap_mode in ("r+", "w+") or (self.mmap_mode is None and self.mode in ("a", "w"))

    def _detach(self) -> None:
        """Leave the file (after writing any pending change): the array lives on in memory only."""
        if self._fstore is not None:
            self.flush()
        self._fstore = None
        self._verifier = None
        self._checksums = None
        self._level_cache = None
        self._data_dirty = False
        self.filepath = self.mode = self.mmap_mode = None

    def compress(self, patch_size: Union[str, int, Sequence[int], None] = "default",
                 chunk_size: Optional[Sequence[int]] = None, block_size: Optional[Sequence[int]] = None,
                 cparams: Optional[dict] = None, dparams: Optional[dict] = None) -> None:
        """Hold the voxels Blosc2-compressed in memory with this layout (``meta.blosc2`` records it).

        A file-backed array first writes any pending change, then leaves the file: save() persists."""
        values = np.asarray(self.to_numpy())
        self._detach()
        self._layout = dict(patch_size=patch_size, chunk_size=chunk_size, block_size=block_size,
                            cparams=cparams, dparams=dparams)
        self._data = self._compressed(values)

    def decompress(self) -> None:
        """Hold the voxels as a numpy array (``meta.blosc2`` is cleared). A file-backed array first
        writes any pending change, then leaves the file: save() persists."""
        values = np.asarray(self.to_numpy())
        self._detach()
        self._data = values
        self._layout = dict(self._layout, chunk_size=None, block_size=None)
        self._meta.record_layout(MetaBlosc2())

    def close(self) -> None:
        """Flush changes (if opened writable) and release the file (or the in-memory array)."""
        if self._fstore is not None:
            self.flush()
        self._fstore = None
        self._data = None
        self._level_cache = None
        self._verifier = None
        self.filepath = None
        self.mode = self.mmap_mode = None

    def __enter__(self) -> "MLArray":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Callable[..., MLArray], tuple[object, ...]]:
        # A file-backed read-only array pickles as its path, so DataLoader workers reopen the
        # file instead of receiving a copy of the data.
        if self.filepath is not None and self.mmap_mode in ("r", None) and not self._data_dirty \
                and self._fstore is not None:
            if is_url(self.filepath):  # the same cache folder in the worker (a remote store names it)
                return (MLArray.open, (self.filepath, "r", "r", None, "lazy", getattr(self._fstore, "cache_dir", None)))
            return (MLArray.open, (self.filepath, self.mode or "r", self.mmap_mode))
        data = None if self._data is None else self.to_numpy()
        return (_from_state, (data, self._meta.to_mapping()))

    def __repr__(self) -> str:
        where = f", file={self.filepath!r}" if self.filepath else ""
        if self._data is None:
            return f"MLArray(metadata only{where})"
        return f"MLArray(shape={self.shape}, dtype={self.dtype}, spacing={self.spacing}{where})"


# ---------------------------------------------------------------------- module helpers

def _from_state(data: Optional[np.ndarray], mapping: dict) -> MLArray:
    # data is None for metadata-only arrays; numpy arrays stay uncompressed, as they were pickled.
    return MLArray(data, meta=Meta.from_mapping(mapping), compressed=False)


def _coerce_meta(meta: object) -> Meta:
    if meta is None:
        return Meta()
    if isinstance(meta, Meta):
        return meta.copy()
    if isinstance(meta, dict):
        # The published package's documented behaviour: a plain dict is the source header.
        return Meta(source=meta)
    raise MetadataError("meta", meta, "must be a Meta or a dict", "pass Meta(...) or a dict of source metadata")


def _is_lazy_array(a: object) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype") and hasattr(a, "__getitem__")


def _meta_json(meta: Meta) -> str:
    return json.dumps(meta.to_mapping(), sort_keys=True)
