"""Framework-neutral random patch sampling over many ``.mla`` files (nnU-Net style).

:class:`PatchSampler` draws fixed-size patches (2D or 3D; non-spatial axes such as channels are
carried along whole) from a list of image files, optionally paired with label files read through
the same window. A fraction of the patches is centred on foreground, found from the segmentation,
the stored boxes (``meta.bbox``) or the coarsest pyramid level. Windows that leave the volume are
padded. Each patch reads only the Blosc2 chunks it overlaps.

Determinism: patch ``index`` of ``epoch`` depends only on ``(seed, epoch, index)`` and the files,
so any number of worker processes, in any order, produce the same patches as one process.

Patches come in the machine's byte order (a big-endian file, such as nibabel's ``anatomical.nii``
converted, keeps ``>i2`` on disk; torch cannot take such arrays).

The sampler pickles as paths, settings and the (small) foreground cache; every process reopens
the files itself (memory-mapped, read-only), so no worker receives or holds a whole volume.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal, Optional, Sequence, Union, get_args

import numpy as np
from numpy.typing import DTypeLike

from ._array import MLArray
from ._errors import SamplingError, SamplingTypeError
from ._file.atomic import atomic_output
from ._foreground import find_foreground, foreground_from_bbox, foreground_from_level
from ._frameworks._geometry import array_shape, native_byte_order
from ._remote import absolute
from ._types import PathLike as _PathLike
from .affines import anatomical_letters
from .parallel import parallel_map

if TYPE_CHECKING:
    from ._array import MLArray

__all__ = ["PatchSampler", "SamplingError", "SamplingTypeError", "find_foreground", "foreground_from_bbox",
           "foreground_from_level"]

_FOREGROUND_MODES = ("auto", "seg", "bbox", "level", None)
# np.pad's modes
PadMode = Literal["constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect", "symmetric",
                  "wrap", "empty"]
# plane name -> the body axis its slices are normal to (the axis squeezed out of 2D patches)
_PLANE_NORMALS = {"axial": "SI", "coronal": "AP", "sagittal": "RL"}


# ----------------------------------------------------------------------------- sampler

class _CaseInfo:
    """Header facts of one image (+ label) pair, read once at construction (no pixel data)."""

    __slots__ = ("image", "label", "shape", "axes", "label_shape", "label_axes", "spatial_shape", "fg_source",
                 "letters", "direction", "named")

    def __init__(self, image: str, label: Optional[str]) -> None:

        img = MLArray.open(image, mmap_mode="r")
        if img.shape is None:
            raise SamplingError(f"{image}: metadata-only file, there is nothing to sample patches from")
        self.image, self.label = image, label
        self.shape: tuple[int, ...] = img.shape
        self.axes: tuple[int, ...] = tuple(img.spatial_axes)
        self.spatial_shape = tuple(self.shape[a] for a in self.axes)
        sp = img.meta.spatial
        # the world frame, to find which array axis is normal to a named plane
        self.letters = anatomical_letters(sp.coord_system)
        self.direction = None if sp.direction is None else np.asarray(sp.direction, dtype=np.float64)
        labels = sp.axis_labels
        # spatial axis index by label ("spatial_z" -> 0 for a (z, y, x) file), for files without a body frame
        self.named = {} if labels is None else {str(labels[a]): i for i, a in enumerate(self.axes)}
        # shape and spatial axes of the label file, when there is one
        self.label_shape: tuple[int, ...] = ()
        self.label_axes: tuple[int, ...] = ()
        self.fg_source: Optional[str] = "bbox" if img.meta.bbox.bboxes else None
        if label is not None:
            lab = MLArray.open(label, mmap_mode="r")
            self.label_shape, self.label_axes = array_shape(lab, label), tuple(lab.spatial_axes)
            lab_spatial = tuple(self.label_shape[a] for a in self.label_axes)
            if lab_spatial != self.spatial_shape:
                raise SamplingError(f"{label}: spatial shape {lab_spatial} does not match image {image} "
                                 f"{self.spatial_shape}")
            self.fg_source = "seg"
        elif img.meta.is_seg:
            self.fg_source = "seg"


class PatchSampler:
    """Random fixed-size patches from ``.mla`` files, with foreground oversampling and padding.

    Parameters
    ----------
    images : sequence of str or os.PathLike
        Paths (or ``https://``/``s3://`` URLs) of the image files.
    labels : sequence of str or os.PathLike, optional
        Paths of label files (one per image, same spatial shape); the same window is read
        from both. Label files may lack the image's channel axis.
    patch_size : int or sequence of int
        An int (same size on every spatial axis) or one size per spatial axis. Giving fewer sizes
        than spatial axes samples lower-dimensional patches: ``patch_size=(256, 256)`` on a 3D
        volume draws 2D slices; ``slice_axis`` says which axis is cut (and squeezed out). The sizes
        apply to the remaining spatial axes in array order.
    slice_axis : {"axial", "coronal", "sagittal"} or int, optional
        For 2D patches from 3D volumes, the axis the slices are normal to: a plane name
        (``"axial"``, ``"coronal"``, ``"sagittal"``: the array axis closest to the S/I, A/P or R/L
        body axis, from the file's ``coord_system`` and ``direction``, so the same plane comes out
        of NIfTI-converted (x, y, z) and DICOM-converted (z, y, x) files) or a spatial axis index
        (0 = first spatial axis). Files without an anatomical ``coord_system`` use their axis labels
        (axial = ``spatial_z``). Default: ``"axial"`` for files with an anatomical ``coord_system``
        or a ``spatial_z`` axis, else the first spatial axis. With more than one squeezed axis (1D
        patches) the leading spatial axes are squeezed.
    foreground_fraction : float
        Fraction of patches centred on a foreground location. It is applied per index, not by
        chance: with ``1/3`` exactly one index in every three consecutive ones is foreground.
    foreground : {"auto", "seg", "bbox", "level"} or None
        Where foreground locations come from: ``"seg"`` (a streamed scan of the label file, or of
        the image if it ``is_seg``, once per file, cached), ``"bbox"`` (``meta.bbox`` of the label
        file, or of the image when the label file has none; a warning names the case when neither
        has boxes, whose patches are then uniform), ``"level"`` (the coarsest pyramid level of the labels, approximate
        and cheaper), ``None`` (uniform patches only) or ``"auto"`` (``"seg"`` with labels or a
        segmentation, else ``"bbox"`` where the file has boxes, else none). A foreground patch
        first picks a class uniformly among those present, then a location of that class.
    foreground_classes : sequence of int, optional
        Restrict foreground to these label values (default: every non-zero value).
    max_locations : int
        Foreground locations kept per class and file (a uniform random subset of them).
    pad_value : float
        Image value outside the volume with ``pad_mode="constant"``.
    label_pad_value : int
        Label value outside the volume with ``pad_mode="constant"``.
    pad_mode : str
        How windows that leave the volume are padded: an ``np.pad`` mode (``"constant"``, ``"edge"``,
        ``"reflect"``, ...).
    seed : int
        Base seed; patch ``i`` of epoch ``e`` uses ``default_rng([seed, e, i])``.
    length : int, optional
        ``len(sampler)`` (patches per epoch); default: the number of images.
    cache_dir : str or os.PathLike, optional
        Directory for foreground locations (``.npz`` keyed by path, size and mtime), so that the
        scan happens once per file across runs and processes.
    dtype : numpy dtype, optional
        Cast image patches to this dtype (e.g. ``np.float32``); labels keep theirs.
    max_open : int
        Files kept open per process (least recently used ones are closed).

    Raises
    ------
    SamplingError
        An argument is out of range, labels and images do not pair, or a file holds no array to
        sample from (also a ``ValueError``).
    NoArrayError
        A label file holds metadata only.

    Patches keep the file's axis layout (non-spatial axes where the file has them, squeezed axes
    removed); :meth:`patch_spatial_axes` says where the spatial axes are.
    """

    def __init__(self, images: Sequence[_PathLike], labels: Optional[Sequence[_PathLike]] = None,
                 patch_size: Union[int, Sequence[int]] = 128, *, foreground_fraction: float = 1 / 3,
                 foreground: Optional[str] = "auto", foreground_classes: Optional[Sequence[int]] = None,
                 max_locations: int = 2000, pad_value: float = 0, label_pad_value: int = 0,
                 pad_mode: PadMode = "constant", seed: int = 0, length: Optional[int] = None,
                 cache_dir: Optional[_PathLike] = None, dtype: Optional[DTypeLike] = None, max_open: int = 64,
                 slice_axis: Union[None, int, str] = None) -> None:
        image_paths = [absolute(p) for p in images]  # URLs stay URLs
        if not image_paths:
            raise SamplingError("PatchSampler needs at least one image file")
        label_paths = None if labels is None else [absolute(p) for p in labels]
        if label_paths is not None and len(label_paths) != len(image_paths):
            raise SamplingError(f"{len(image_paths)} images but {len(label_paths)} label files; give one label per "
                                "image")
        if foreground not in _FOREGROUND_MODES:
            raise SamplingError(f"foreground={foreground!r}; use one of {_FOREGROUND_MODES}")
        if pad_mode not in get_args(PadMode):
            raise SamplingError(f"pad_mode={pad_mode!r}; use one of np.pad's modes {get_args(PadMode)}")
        if not 0.0 <= foreground_fraction <= 1.0:
            raise SamplingError(f"foreground_fraction={foreground_fraction} must be between 0 and 1")
        if isinstance(slice_axis, str) and slice_axis not in _PLANE_NORMALS:
            raise SamplingError(f"slice_axis={slice_axis!r}; use one of {sorted(_PLANE_NORMALS)} or a spatial axis "
                                "index")
        self.cases = [_CaseInfo(im, label_paths[i] if label_paths else None) for i, im in enumerate(image_paths)]
        self.images, self.labels = image_paths, label_paths
        self.patch_size = _as_sizes(patch_size)
        for c in self.cases:
            if not isinstance(self.patch_size, int) and len(self.patch_size) > len(c.axes):
                raise SamplingError(f"patch_size {self.patch_size} has more axes than the {len(c.axes)} spatial "
                                    f"axes of {c.image}")
        self.slice_axis = slice_axis
        self._squeezed = [self._resolve_squeezed(c) for c in self.cases]
        self.foreground_fraction = float(foreground_fraction)
        self.foreground = foreground
        self.foreground_classes = None if foreground_classes is None else [int(c) for c in foreground_classes]
        self.max_locations = int(max_locations)
        self.pad_value, self.label_pad_value, self.pad_mode = pad_value, label_pad_value, pad_mode
        self.seed = int(seed)
        self.length = len(image_paths) if length is None else int(length)
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.max_open = int(max_open)
        self._fg: dict[int, Optional[dict]] = {}
        self._handles: OrderedDict[str, MLArray] = OrderedDict()
        self._pid = os.getpid()

    # -------------------------------------------------------------- pickling (workers reopen by path)
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handles"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.sample(index)

    # -------------------------------------------------------------- files
    def _open(self, path: str) -> MLArray:

        if self._pid != os.getpid():  # forked: never share another process's mappings
            self._handles, self._pid = OrderedDict(), os.getpid()
        h = self._handles.get(path)
        if h is None:
            h = MLArray.open(path, mmap_mode="r")
            self._handles[path] = h
            while len(self._handles) > self.max_open:
                self._handles.popitem(last=False)
        else:
            self._handles.move_to_end(path)
        return h

    # -------------------------------------------------------------- foreground
    def _mode_for(self, case: int) -> Optional[str]:
        info = self.cases[case]
        if self.foreground == "auto":
            return info.fg_source
        return self.foreground

    def foreground_locations(self, case: int) -> Optional[dict]:
        """Foreground of one case, found on first use and cached.

        Parameters
        ----------
        case : int
            Index of the image in ``images``.

        Returns
        -------
        dict or None
            ``{class: locations}``: int32 ``(k, spatial_ndim)`` voxel indices (``"seg"``, ``"level"``)
            or float ``(n, spatial_ndim, 2)`` boxes (``"bbox"``); None when the case has no foreground
            source.
        """
        if case in self._fg:
            return self._fg[case]
        mode = self._mode_for(case)
        fg = None if mode is None else self._load_or_compute(case, mode)
        self._fg[case] = fg
        return fg

    def precompute_foreground(self, jobs: int = 1, scheduler: Optional[str] = None) -> "PatchSampler":
        """Find foreground for every case now, so that DataLoader workers receive the cache instead of scanning.

        Parameters
        ----------
        jobs : int
            Local worker processes.
        scheduler : str, optional
            A ``dask.distributed`` scheduler address to run the scans on instead.

        Returns
        -------
        PatchSampler
            This sampler (for chaining).
        """

        todo = [c for c in range(len(self.cases)) if c not in self._fg]
        args = [(self.cases[c], self._mode_for(c), self.foreground_classes, self.max_locations, self.seed,
                 self.cache_dir) for c in todo]
        for c, fg in zip(todo, parallel_map(_foreground_task, args, jobs=jobs, scheduler=scheduler)):
            self._fg[c] = fg
        return self

    def _load_or_compute(self, case: int, mode: str) -> Optional[dict]:
        return _foreground_task((self.cases[case], mode, self.foreground_classes, self.max_locations, self.seed,
                                 self.cache_dir))

    # -------------------------------------------------------------- sampling
    def is_foreground_index(self, index: int) -> bool:
        """Whether patch ``index`` is centred on foreground: one in every ``1 / foreground_fraction``.

        Parameters
        ----------
        index : int
            The patch index (the same in every epoch).

        Returns
        -------
        bool
            True for ``foreground_fraction`` of the indices, spread evenly.
        """
        f = self.foreground_fraction
        return math.floor((index + 1) * f + 1e-9) > math.floor(index * f + 1e-9)

    def sample(self, index: int, epoch: int = 0) -> dict:
        """Patch ``index`` of ``epoch``; the same for the same ``(seed, epoch, index)`` in any process.

        Parameters
        ----------
        index : int
            The patch index.
        epoch : int
            The epoch; each draws other patches.

        Returns
        -------
        dict
            ``"image"`` (ndarray, the file's axis layout, squeezed axes removed), ``"label"`` (with
            labels), ``"case"`` (index of the image), ``"start"`` (int64 ndarray: the window's first
            voxel per spatial axis, base-array indices, negative or past the end where padded) and
            ``"foreground"`` (whether the window was centred on foreground).
        """
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        case = int(rng.integers(len(self.cases)))
        info = self.cases[case]
        patch = self._full_patch(case)
        want_fg = self.foreground_fraction > 0 and self.is_foreground_index(int(index))
        centre = self._foreground_centre(case, rng, info) if want_fg else None
        lo = [min(0, s - p) for s, p in zip(info.spatial_shape, patch)]
        hi = [max(0, s - p) for s, p in zip(info.spatial_shape, patch)]
        if centre is None:
            start = [int(rng.integers(a, b + 1)) for a, b in zip(lo, hi)]
        else:
            start = [int(np.clip(c - p // 2, a, b)) for c, p, a, b in zip(centre, patch, lo, hi)]
        out = self.read_patch(case, start, patch)
        out["foreground"] = centre is not None
        return out

    def _full_patch(self, case: int) -> list[int]:
        info = self.cases[case]
        if isinstance(self.patch_size, int):
            return [self.patch_size] * len(info.axes)
        sizes = iter(self.patch_size)
        return [1 if i in self._squeezed[case] else next(sizes) for i in range(len(info.axes))]

    def _resolve_squeezed(self, info: _CaseInfo) -> tuple[int, ...]:
        """Spatial axes (indices into ``info.axes``) read with size 1 and squeezed out of the patch."""
        n = 0 if isinstance(self.patch_size, int) else len(info.axes) - len(self.patch_size)
        axis = self.slice_axis
        if n == 0:
            return ()
        if n > 1:
            if axis is not None:
                raise SamplingError(f"slice_axis={axis!r} names one axis, but patch_size {self.patch_size} squeezes "
                                    f"{n} of the {len(info.axes)} spatial axes of {info.image}")
            return tuple(range(n))
        if axis is None:
            anatomical = info.letters is not None and len(info.letters) == len(info.axes) == 3
            axis = "axial" if anatomical or "spatial_z" in info.named else 0
        if isinstance(axis, str):
            return (self._plane_normal_axis(info, axis),)
        axis = int(axis)
        if not -len(info.axes) <= axis < len(info.axes):
            raise SamplingError(f"slice_axis={axis} is not a spatial axis of {info.image} ({len(info.axes)} "
                                "spatial axes)")
        return (axis % len(info.axes),)

    @staticmethod
    def _plane_normal_axis(info: _CaseInfo, plane: str) -> int:
        letters = info.letters
        if letters is None or len(letters) != len(info.axes) or len(letters) != 3:
            # no body frame: the axis labels, with z as the axial normal (a z-stack's xy planes)
            label = {"axial": "spatial_z", "coronal": "spatial_y", "sagittal": "spatial_x"}[plane]
            if len(info.axes) == 3 and label in info.named:
                return info.named[label]
            raise SamplingError(f"slice_axis={plane!r} needs a 3D file with an anatomical spatial.coord_system or "
                                f"axis labels spatial_x/y/z, but {info.image} has neither; give slice_axis as a "
                                "spatial axis index instead")
        row = next(i for i, c in enumerate(letters) if c in _PLANE_NORMALS[plane])
        direction = np.eye(len(info.axes)) if info.direction is None else info.direction
        # the array axis whose direction leans most toward that body axis (oblique grids included)
        return int(np.argmax(np.abs(direction[row])))

    def squeezed_axes(self, case: int) -> tuple[int, ...]:
        """Spatial axes of ``case`` cut to one voxel and squeezed out of its patches.

        Parameters
        ----------
        case : int
            Index of the image in ``images``.

        Returns
        -------
        tuple of int
            Indices among the spatial axes (0 = first spatial axis); empty for full-dimensional patches.
        """
        return self._squeezed[case]

    def patch_spatial_axes(self, case: int, label: bool = False) -> list[int]:
        """Positions of the spatial axes in the patch arrays of ``case``.

        Parameters
        ----------
        case : int
            Index of the image in ``images``.
        label : bool
            The label patches' axes instead of the image patches'.

        Returns
        -------
        list of int
            Axis positions in the patch arrays, in array order.

        Raises
        ------
        SamplingError
            ``label=True`` for a sampler without label files.
        """
        info = self.cases[case]
        if label and info.label is None:
            raise SamplingError(f"case {case} ({info.image}) has no label file; ask for label=False")
        shape, axes = (info.label_shape, info.label_axes) if label else (info.shape, info.axes)
        gone = {axes[i] for i in self._squeezed[case]}
        kept = [a for a in range(len(shape)) if a not in gone]
        return [i for i, a in enumerate(kept) if a in axes]

    def _foreground_centre(self, case: int, rng: np.random.Generator, info: _CaseInfo) -> Optional[list[int]]:
        fg = self.foreground_locations(case)
        if not fg:
            return None
        classes = sorted(fg, key=str)
        if self.foreground_classes is not None:
            classes = [c for c in classes if c in self.foreground_classes] or classes
        cls = classes[int(rng.integers(len(classes)))]
        locs = fg[cls]
        if locs.ndim == 3:  # boxes: a random integer point inside a random box of that class
            box = locs[int(rng.integers(len(locs)))]
            lo_b = np.clip(np.ceil(box[:, 0]), 0, np.array(info.spatial_shape) - 1).astype(int)
            hi_b = np.clip(np.floor(box[:, 1]), lo_b, np.array(info.spatial_shape) - 1).astype(int)
            return [int(rng.integers(a, b + 1)) for a, b in zip(lo_b, hi_b)]
        return [int(v) for v in locs[int(rng.integers(len(locs)))]]

    def read_patch(self, case: int, start: Sequence[int], size: Optional[Sequence[int]] = None) -> dict:
        """Read the window ``[start, start + size)`` from the case's image (and label).

        The window is padded outside the volume; only the chunks it overlaps are decompressed.

        Parameters
        ----------
        case : int
            Index of the image in ``images``.
        start : sequence of int
            First voxel per spatial axis (base-array indices; negative or past the end is padded).
        size : sequence of int, optional
            Voxels per spatial axis; default: the sampler's patch size.

        Returns
        -------
        dict
            ``"image"``, ``"label"`` (with labels), ``"case"`` and ``"start"``, as :meth:`sample`.

        Raises
        ------
        SamplingError
            ``start`` or ``size`` lacks an entry per spatial axis.
        """
        info = self.cases[case]
        size = self._full_patch(case) if size is None else [int(s) for s in size]
        if len(size) != len(info.axes) or len(start) != len(info.axes):
            raise SamplingError(f"start {list(start)} / size {size} need one entry per spatial axis "
                                f"({len(info.axes)})")
        image = _read_window(self._open(info.image), info.shape, info.axes, start, size,
                             self.pad_mode, self.pad_value)
        squeeze = tuple(info.axes[i] for i in self._squeezed[case])
        if self.dtype is not None:
            image = image.astype(self.dtype, copy=False)
        out: dict[str, Any] = {"image": np.squeeze(image, axis=squeeze) if squeeze else image}
        if info.label is not None:
            label = _read_window(self._open(info.label), info.label_shape, info.label_axes, start, size,
                                 "constant" if self.pad_mode == "constant" else self.pad_mode, self.label_pad_value)
            lsq = tuple(info.label_axes[i] for i in self._squeezed[case])
            out["label"] = np.squeeze(label, axis=lsq) if lsq else label
        out["case"] = case
        out["start"] = np.asarray(start, dtype=np.int64)
        return out


def _read_window(img: MLArray, shape: Sequence[int], axes: Sequence[int], start: Sequence[int], size: Sequence[int],
                 pad_mode: PadMode, pad_value: float) -> np.ndarray:
    key: list[slice] = [slice(None)] * len(shape)
    pads = [(0, 0)] * len(shape)
    for ax, s, p in zip(axes, start, size):
        a, b = max(int(s), 0), min(int(s) + int(p), shape[ax])
        if b <= a:  # window entirely outside on this axis: read nothing, pad everything
            key[ax], pads[ax] = slice(0, 0), (int(p), 0)
            continue
        key[ax] = slice(a, b)
        pads[ax] = (a - int(s), int(s) + int(p) - b)
    data = img[tuple(key)]
    if any(p != (0, 0) for p in pads):
        if pad_mode == "constant":
            data = np.pad(data, pads, mode="constant", constant_values=pad_value)
        elif data.size == 0:
            data = np.pad(data, pads, mode="constant", constant_values=pad_value)
        else:
            data = np.pad(data, pads, mode=pad_mode)
    return native_byte_order(np.ascontiguousarray(data))


def _as_sizes(patch_size: Union[int, Sequence[int]]) -> Union[int, list[int]]:
    if isinstance(patch_size, (int, np.integer)):
        if patch_size < 1:
            raise SamplingError(f"patch_size {patch_size!r} must be positive")
        return int(patch_size)
    sizes = [int(p) for p in patch_size]
    if not sizes or any(p < 1 for p in sizes):
        raise SamplingError(f"patch_size {patch_size!r} must be positive sizes, one per spatial axis")
    return sizes


# ----------------------------------------------------------------------------- foreground task (picklable)

def _foreground_task(args: tuple[_CaseInfo, Optional[str], Optional[list[int]], int, int, Optional[str]]
                     ) -> Optional[dict]:
    info, mode, classes, max_locations, seed, cache_dir = args
    if mode is None:
        return None
    source = info.label or info.image
    cache = None
    if cache_dir is not None:
        st = os.stat(source)
        key = f"{source}|{st.st_size}|{st.st_mtime_ns}|{mode}|{classes}|{max_locations}|{seed}"
        cache = os.path.join(cache_dir, f"fg-{hashlib.sha1(key.encode()).hexdigest()[:20]}.npz")
        if os.path.exists(cache):
            with np.load(cache, allow_pickle=False) as z:
                return {_restore_key(k): z[k] for k in z.files}
    if mode == "seg":
        fg = find_foreground(source, classes=classes, max_per_class=max_locations, seed=seed)
    elif mode == "level":
        fg = foreground_from_level(source, max_per_class=max_locations, seed=seed)
    elif mode == "bbox":
        fg = foreground_from_bbox(source)
        if not fg and info.label is not None:
            fg = foreground_from_bbox(info.image)
        if not fg:
            where = f"neither {info.label} nor {info.image} has" if info.label is not None else f"{info.image} has no"
            warnings.warn(f"foreground='bbox': {where} boxes (meta.bbox), so the patches of this case are uniform; "
                          "store boxes in the image or label file, or use foreground='seg'", UserWarning, stacklevel=2)
    else:
        raise SamplingError(f"unknown foreground mode {mode!r}")
    if cache is not None:

        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with atomic_output(cache) as tmp:
            with open(tmp, "wb") as fh:
                # numpy's stubs let a **dict fill savez's allow_pickle flag; our keys start with "i" or "s",
                # so none is "allow_pickle"
                np.savez(fh, **{_cache_key(k): v for k, v in fg.items()})  # type: ignore[arg-type]
    return fg


def _cache_key(k: object) -> str:
    return f"i{k}" if isinstance(k, int) else f"s{k}"


def _restore_key(k: str) -> int | str:
    return int(k[1:]) if k[0] == "i" else k[1:]
