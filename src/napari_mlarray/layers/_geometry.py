"""World convention: how an ``.mla`` file's geometry lands in napari's world space, and back.

napari has one world space shared by all layers; this module decides how an ``.mla`` file's
geometry (``world = origin + direction @ (spacing * index)`` in ``spatial.coord_system``) lands
in it:

* **Anatomical coordinate systems** (``RAS``, ``LPS``, ``LAS``, ``RAS+``, ... any three of R/L,
  A/P, S/I): the affine is converted into one of two *world frames* (:func:`set_world_frame`):

  - ``"SPL"`` (default, radiological): LPS coordinates with the world axis order *reversed*, so
    napari's world dimensions are ``(S, P, L)``. In the default 2D view of a 3D image the slider
    runs inferior→superior, rows go anterior→posterior (anterior at the top) and columns run
    right→left (the patient's right on the left of the screen: the radiological convention).
    Layers get ``axis_labels`` ``("I→S", "A→P", "R→L")``.
  - ``"RAS"`` (nibabel): world dimensions ``(R, A, S)`` in RAS+ millimetres, the frame of a
    NIfTI added with its nibabel affine (``viewer.add_image(img.get_fdata(), affine=img.affine)``)
    and of readers that pass that affine on; layers from both then overlay voxel for voxel.
    Labels ``("L→R", "P→A", "I→S")``.

  napari shows the labels on the dims sliders and the axes overlay, and :mod:`..viewer` uses
  them to keep 2D views upright with orientation markers. Files stored in different array
  orientations agree in napari world coordinates voxel for voxel. Each layer records the frame
  it was read in (``metadata["mlarray_world"]``) so saving undoes exactly that frame.
* **Other coordinate systems** (``unknown``, ``other``, custom names, 2D slides): the affine is
  used as is; a DICOM without patient geometry lists its world axes in its array order (:func:`world_rows`).
* **Non-spatial axes**: a ``channel`` axis is split into one layer per channel (each a lazy view
  picking that channel; napari's own ``channel_axis`` would materialise every level with
  ``np.take``); every other non-spatial axis (time, ...) becomes a dims slider in front of the
  spatial axes (napari shows the last two layer axes in 2D), with an identity
  transform.

napari slices each layer along its *data* axes, so the data handed over is an
:class:`~napari_mlarray.layers._views.AxisView` of the file's lazy level arrays with the spatial axes
permuted to follow the world axes. What remains of the geometry is a per-axis ``scale`` (negative
for flipped axes), a ``translate`` and, for oblique images only, a ``rotate`` matrix. Image,
Labels and Shapes layers from one file get exactly the same transform. napari cannot slice
oblique data along world planes; in that case a warning says so (once per file).

:class:`Geometry` computes this once per file; every layer made from the file (see
:mod:`._to_layers` and :mod:`..boxes._layer`) takes its transform from it. The writer side
(:mod:`._from_layers`) undoes it with :func:`file_affine_from_world` and
:func:`data_to_world_matrix`.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Hashable
from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from mlarray._voxel_order import reversed_index_order
from mlarray.affines import BODY_AXIS, OPPOSITE_LETTER, anatomical_letters, convert_coord_system
from mlarray.meta import Meta, MetaSpatial, compose_affine_or_none, label_str

from ._time import time_steps

__all__ = ["WORLD_FRAMES", "Geometry", "data_to_world_matrix", "file_affine_from_world", "label_str",
           "napari_world_affine", "set_world_frame", "shown_file_affine", "signed_rotation", "world_frame",
           "world_rows"]

WORLD_FRAMES = ("SPL", "RAS")
_world_frame = [os.environ.get("MLARRAY_NAPARI_WORLD", "SPL").upper()]
if _world_frame[0] not in WORLD_FRAMES:  # pragma: no cover - a mistyped environment variable
    _world_frame[0] = "SPL"

_LPS_LETTER = {0: "L", 1: "P", 2: "S"}
_OBLIQUE_TOL = 1e-6
# napari inverts every layer's data->world transform on each redraw; a direction this close to
# singular (the published package's examples write [[1,2,3],[4,5,6],[7,8,9]]) cannot be shown.
_SINGULAR_COND = 1e12
_warned: set = set()


# --------------------------------------------------------------------------- world convention

def _anatomical_letters(coord_system: Optional[str], n: int) -> Optional[str]:
    """The coord_system letters when it is an anatomical system over ``n`` axes (mlarray.affines' rules)."""
    letters = anatomical_letters(coord_system)
    return letters if letters is not None and len(letters) == n else None


def world_frame() -> str:
    """The frame files are opened in from now on: ``"SPL"`` (radiological) or ``"RAS"`` (nibabel)."""
    return _world_frame[0]


def set_world_frame(frame: str) -> str:
    """Open files from now on in ``frame`` (``"SPL"`` or ``"RAS"``; see the module docstring).

    Layers already open keep the frame they were read in. Returns the previous frame. The
    environment variable ``MLARRAY_NAPARI_WORLD`` sets the frame a session starts with.
    """
    f = str(frame).upper()
    if f not in WORLD_FRAMES:
        raise ValueError(f"world frame {frame!r} is not one of {', '.join(WORLD_FRAMES)}; "
                         "use 'SPL' (radiological, the default) or 'RAS' (nibabel affine)")
    previous, _world_frame[0] = _world_frame[0], f
    return previous


def _napari_letters(letters: str, frame: Optional[str] = None) -> str:
    """The napari world axes for an anatomical system: (S, P, L) in the SPL frame, (R, A, S) in RAS."""
    classes = sorted({BODY_AXIS[c] for c in letters})
    if (frame or world_frame()) == "RAS":
        return "".join("RAS"[c] for c in classes)
    return "".join(_LPS_LETTER[c] for c in reversed(classes))


def world_rows(meta: Meta) -> Optional[list[int]]:
    """For a DICOM (or ITK-read) file without an anatomical frame: the file world axis shown as napari world axis
    ``k`` (``rows[k]``), so napari shows the array's own axis order; None for every other file.

    ITK's implicit frame of a DICOM without patient position and orientation lists its world axes x first
    (array (frame, row, column) along world (z, y, x)); with no anatomy to keep upright, following those axes
    showed a whole-body scan on its side. Files of other origins keep their world as stored, so two files of
    one world in different array orders still overlay.
    """
    spatial = meta.spatial
    affine, _ = shown_file_affine(spatial)
    if affine is None or not reversed_index_order(meta.source_format, meta.source):
        return None
    n = affine.shape[0] - 1
    if n < 2 or n > 6 or _anatomical_letters(spatial.coord_system, n) is not None:
        return None
    d = np.abs(affine[:n, :n])
    perms = [list(p) for p in itertools.permutations(range(n))]
    # the world axis each array axis runs along most (world axis rows[k] for array axis k)
    rows = max(perms, key=lambda p: float(sum(d[p[k], k] for k in range(n))))
    return None if rows == list(range(n)) else rows


def napari_world_affine(affine: ArrayLike, coord_system: Optional[str], frame: Optional[str] = None,
                        rows: Optional[Sequence[int]] = None) -> tuple[np.ndarray, Optional[list[str]]]:
    """``(W, labels)``: the index->napari-world affine over the spatial axes, and world axis labels.

    ``labels`` is ``["I→S", "A→P", "R→L"]``-style for anatomical systems, else None. ``frame``
    defaults to :func:`world_frame`. ``rows`` (from :func:`world_rows`) reorders a non-anatomical world.
    """
    a = np.asarray(affine, dtype=float)
    n = a.shape[0] - 1
    letters = _anatomical_letters(coord_system, n)
    if letters is None:
        return (a[[*rows, n]] if rows is not None and len(rows) == n else a.copy()), None
    target = _napari_letters(letters, frame)
    w = convert_coord_system(a, letters, target)
    return w, [f"{OPPOSITE_LETTER[c]}→{c}" for c in target]


def file_affine_from_world(world_affine: ArrayLike, coord_system: Optional[str],
                           frame: Optional[str] = None, rows: Optional[Sequence[int]] = None) -> np.ndarray:
    """Inverse of :func:`napari_world_affine`: napari-world affine -> affine in ``coord_system``."""
    w = np.asarray(world_affine, dtype=float)
    n = w.shape[0] - 1
    letters = _anatomical_letters(coord_system, n)
    if letters is None:
        if rows is None or len(rows) != n:
            return w.copy()
        a = np.empty_like(w)
        a[[*rows, n]] = w
        return a
    return convert_coord_system(w, _napari_letters(letters, frame), letters)


def signed_rotation(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sign, rot)`` for a matrix ``d`` with unit columns: ``rot = d * sign`` is a proper rotation.

    Signs make the diagonal non-negative; if that leaves a reflection, the column with the smallest
    diagonal entry is flipped back.
    """
    n = d.shape[0]
    sign = np.where(np.diag(d) < 0, -1.0, 1.0)
    rot = d * sign[np.newaxis, :]
    if n and np.linalg.det(rot) < 0:
        j = int(np.argmin(np.abs(np.diag(rot))))
        sign[j] = -sign[j]
        rot[:, j] = -rot[:, j]
    return sign, rot


def _align(world_affine: ArrayLike) -> dict:
    """Split an index->world affine into a permutation of the array axes plus scale/translate/rotate.

    ``perm[k]`` is the (spatial) array axis shown as world axis ``k``. ``scale`` is signed,
    ``rotate`` the remaining proper rotation (identity unless the image is oblique).
    """
    w = np.asarray(world_affine, dtype=float)
    n = w.shape[0] - 1
    lin = w[:n, :n]
    norms = np.linalg.norm(lin, axis=0)
    norms[norms == 0] = 1.0
    d = lin / norms
    perm: list[int]
    if n <= 6:
        best = max(itertools.permutations(range(n)), key=lambda p: sum(abs(d[k, p[k]]) for k in range(n)))
        perm = list(best)
    else:  # pragma: no cover - more than 6 spatial axes
        perm, free = [], set(range(n))
        for k in range(n):
            j = max(free, key=lambda j: abs(d[k, j]))
            perm.append(j)
            free.remove(j)
    sign, rot = signed_rotation(d[:, perm])
    off = np.abs(rot - np.eye(n)).max() if n else 0.0
    oblique = off > _OBLIQUE_TOL
    angle = 0.0
    if oblique:
        angle = math.degrees(math.acos(float(np.clip(np.diag(rot).min(), -1.0, 1.0))))
    else:
        rot = np.eye(n)
    sheared = bool(n) and np.abs(d.T @ d - np.eye(n)).max() > _OBLIQUE_TOL
    return {"perm": perm, "scale": (norms[perm] * sign).tolist(), "translate": w[:n, n].tolist(),
            "rotate": rot, "oblique": oblique, "angle": angle, "sheared": sheared}


def shown_file_affine(spatial: MetaSpatial) -> tuple[Optional[np.ndarray], bool]:
    """The file affine napari is given, and whether it had to differ from the stored one.

    A singular direction places no voxel anywhere napari can invert, so such a file is shown
    axis-aligned with its spacing and origin; the stored geometry is kept for saving.
    """
    affine = compose_affine_or_none(spatial.spacing, spatial.origin, spatial.direction)
    if affine is None:
        return None, False
    n = affine.shape[0] - 1
    if n == 0 or np.linalg.cond(affine[:n, :n]) < _SINGULAR_COND:
        return affine, False
    return compose_affine_or_none(spatial.spacing, spatial.origin, None), True


def _warn_once(key: Hashable, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, UserWarning, stacklevel=3)


# napari's own words for an oblique layer, which it repeats on every slice of every layer (dozens of lines
# per slider move; Python's "once" cannot hold it back, as napari's warning filters keep resetting the
# registries). The plugin's warning for an oblique file says the same once per file, so once it has been
# given napari's repeats are silenced (an "ignore" filter for that one message; every other warning is
# untouched).
_NAPARI_NON_ORTHOGONAL = "Non-orthogonal slicing is being requested"


def silence_napari_oblique_repeats() -> None:
    """Silence napari's per-slice non-orthogonal warning once the plugin has warned of an oblique file.

    Called by the reader after its read: a filter set during the read would be undone by the
    ``catch_warnings`` block that relays the read's warnings to napari."""
    if any(isinstance(k, tuple) and k[:1] == ("oblique",) for k in _warned):
        warnings.filterwarnings("ignore", message=_NAPARI_NON_ORTHOGONAL, category=UserWarning)


def _valid_unit(u: str) -> bool:
    try:
        from napari.utils.transforms._units import get_units_from_name
    except ImportError:  # pragma: no cover - napari without unit support
        return False
    try:
        get_units_from_name(u)
    except Exception:
        return False
    return True


class Geometry:
    """How one file's axes become layer axes, shared by all layers made from it."""

    def __init__(self, meta: Meta, ndim: Optional[int], spatial_axes: list[int], name: str, key: Hashable,
                 frame: Optional[str] = None) -> None:
        sp = meta.spatial
        self.spatial_axes = spatial_axes
        s = len(spatial_axes)
        affine, simplified = shown_file_affine(sp)
        if affine is None or affine.shape[0] != s + 1:
            affine, simplified = np.eye(s + 1), False
        if simplified:
            _warn_once(("singular", key),
                       f"{name}: the stored direction {sp.direction} is singular (its columns do not span "
                       f"{s}-D space), so it places no image anywhere; napari shows the image axis-aligned "
                       "with its spacing and origin. Saving without moving the layer keeps the stored "
                       "direction; `mlarray validate` reports it.")
        self.frame = frame or world_frame()  # the frame this file is read in, recorded on its layers
        world, labels = napari_world_affine(affine, sp.coord_system, self.frame, world_rows(meta))
        al = _align(world)
        self.perm, self.scale, self.translate = al["perm"], al["scale"], al["translate"]
        self.rotate, self.oblique = al["rotate"], al["oblique"]
        if self.oblique and al["sheared"]:
            _warn_once(("oblique", key),
                       f"{name}: the image axes are not perpendicular (a sheared affine). napari applies the "
                       "exact affine but slices along the image's own axes, so 2D slices are not world "
                       "planes and other layers overlay it exactly only in 3D view.")
        elif self.oblique:
            _warn_once(("oblique", key),
                       f"{name}: the image axes are oblique to the world axes (up to {al['angle']:.1f}°). "
                       "napari shows it as a rotated layer but slices along the image's own axes, so 2D "
                       "slices are not world planes and other layers overlay it exactly only in 3D view.")
        labels_in = [label_str(v) for v in (sp.axis_labels or [])]
        if labels is None:
            labels = []
            for k in range(s):
                j = spatial_axes[self.perm[k]]
                lab = labels_in[j] if j < len(labels_in) else "spatial"
                labels.append(lab[len("spatial_"):] if lab.startswith("spatial_") else f"axis {j}")
        self.spatial_labels = labels
        self.labels_in = labels_in
        self.time_steps = time_steps(meta, ndim)  # {axis: (step, unit)} of the time axes
        # units per spatial world axis
        units = sp.axis_units
        self.spatial_units: Optional[list[str]] = None
        self.all_units: Optional[list[str]] = None
        if units:
            if ndim is not None and len(units) == ndim and len(units) != s:
                self.all_units = list(units)
                per_spatial = [units[a] for a in spatial_axes]
            else:
                per_spatial = list(units)
            if len(per_spatial) == s:
                cand = [per_spatial[self.perm[k]] for k in range(s)]
                if all(_valid_unit(u) for u in cand):
                    self.spatial_units = cand

    def layer_axes(self, ndim: int, drop: Sequence[int] = ()) -> list[int]:
        """Base array axes in layer order: non-spatial axes first (time, ...), then the spatial ones.

        napari shows the last two layer axes in its default 2D view and makes sliders of the
        others, so the spatial axes go last, in world order, whatever the file's axis order; the
        non-spatial axes keep their file order in front of them.
        """
        spatial_set = set(self.spatial_axes)
        sliders = [a for a in range(ndim) if a not in drop and a not in spatial_set]
        return sliders + [self.spatial_axes[p] for p in self.perm]

    def transform_kwargs(self, order: Optional[list[int]] = None) -> dict:
        """scale/translate/rotate/axis_labels/units for layer axes ``order`` (None: spatial only)."""
        s = len(self.spatial_axes)
        if order is None:
            slots = [("s", k) for k in range(s)]
        else:
            spatial_set, k, slots = set(self.spatial_axes), 0, []
            for a in order:
                if a in spatial_set:
                    slots.append(("s", k))
                    k += 1
                else:
                    slots.append(("n", a))
        d = len(slots)
        scale, translate, labels, units = [], [], [], []
        rot = np.eye(d)
        sp_pos = [i for i, (kind, _) in enumerate(slots) if kind == "s"]
        for i, (kind, v) in enumerate(slots):
            if kind == "s":
                scale.append(self.scale[v])
                translate.append(self.translate[v])
                labels.append(self.spatial_labels[v])
                units.append(self.spatial_units[v] if self.spatial_units else None)
            else:
                step, u = self.time_steps.get(v, (1.0, self.all_units[v] if self.all_units else None))
                scale.append(step)
                translate.append(0.0)
                lab = self.labels_in[v] if v < len(self.labels_in) else f"axis {v}"
                labels.append({"temporal": "time", "non_spatial": f"axis {v}"}.get(lab, lab))
                units.append(u if u and _valid_unit(u) else None)
        if self.oblique:
            rot[np.ix_(sp_pos, sp_pos)] = self.rotate
        # axis labels must be unique
        seen: dict = {}
        for i, lab in enumerate(labels):
            if lab in seen:
                labels[i] = f"{lab} {i}"
            seen[lab] = i
        out: dict[str, Any] = {"scale": scale, "translate": translate, "axis_labels": labels}
        if any(u is not None for u in units):
            out["units"] = [u if u is not None else "pixel" for u in units]
        if self.oblique:
            out["rotate"] = rot
        return out


def data_to_world_matrix(state: dict, ndim: int) -> np.ndarray:
    """The layer's full data->world affine from its state (scale/translate/rotate/shear/affine)."""
    from napari.utils.transforms import Affine

    def arr(key: str, default: Any) -> Any:
        v = state.get(key)
        return default if v is None else v

    phys = Affine(scale=arr("scale", [1.0] * ndim), translate=arr("translate", [0.0] * ndim),
                  rotate=arr("rotate", np.eye(ndim)), shear=arr("shear", [0.0] * (ndim * (ndim - 1) // 2)),
                  ndim=ndim)
    aff = state.get("affine")
    m = np.asarray(phys.affine_matrix, dtype=float)
    if aff is not None:
        a = np.asarray(getattr(aff, "affine_matrix", aff), dtype=float)
        m = a @ m
    return m
