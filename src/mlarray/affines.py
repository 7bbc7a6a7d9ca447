"""Pure-numpy geometry helpers: spacing/origin/direction <-> affine, orientation codes.

Convention (spec v1): for the spatial axes of an array, in array order,
``world = origin + direction @ (spacing * index)``. Column ``j`` of ``direction`` is the
unit world vector of array axis ``j``; world coordinates are ordered as the letters of
``coord_system`` (``RAS``: x toward Right, y toward Anterior, z toward Superior).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._errors import AffineError

__all__ = [
    "compose_affine",
    "decompose_affine",
    "check_direction",
    "axis_directions",
    "convert_coord_system",
    "anatomical_letters",
    "orthonormality_error",
    "nearest_orthonormal",
    "ORTHONORMAL_TOL",
    "OPPOSITE_LETTER",
    "BODY_AXIS",
]

# Direction cosines from DICOM/NIfTI headers are stored as float32 or with ~6 decimals;
# 1e-4 accepts them while still catching sheared or unnormalised matrices.
ORTHONORMAL_TOL = 1e-4

# The anatomical letters: each one's opposite, and the body axis it lies on (0: R/L, 1: A/P, 2: S/I).
OPPOSITE_LETTER = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}
BODY_AXIS = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}
_OPPOSITE, _AXIS_OF = OPPOSITE_LETTER, BODY_AXIS


def anatomical_letters(coord_system: object) -> str | None:
    """The anatomical letters of a coordinate system, or None when it is not one.

    ``"RAS"``, ``"RAS+"`` (the published package's and ITK's spelling: the ``+`` says each axis grows
    toward its letter), ``"ras"`` -> ``"RAS"``; ``"LPS+"`` -> ``"LPS"``; 2-letter codes such as ``"RA"``
    for 2D images too. Each letter must name a different body axis (R/L, A/P, S/I).
    ``"unknown"``, ``"other"``, ``None`` and custom frames give None. Enum members are read by value.
    """
    value = getattr(coord_system, "value", coord_system)
    if not isinstance(value, str):
        return None
    letters = value.strip().upper()
    if letters.endswith("+"):
        letters = letters[:-1]
    if not 1 <= len(letters) <= 3 or any(c not in _AXIS_OF for c in letters):
        return None
    if len({_AXIS_OF[c] for c in letters}) != len(letters):
        return None
    return letters


def check_direction(direction: ArrayLike, ndim: int | None = None, tol: float = ORTHONORMAL_TOL, *,
                    orthonormal: bool = True) -> np.ndarray:
    """Return ``direction`` as a float array after checking it is square and finite, and (unless
    ``orthonormal=False``, for general affines kept as given) orthonormal."""
    try:
        d = np.asarray(direction, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise AffineError("spatial.direction", direction, "must be a matrix of numbers",
                          "pass an n x n list of lists of floats") from None
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise AffineError("spatial.direction", direction, "must be a square matrix",
                          "pass an n x n list of lists, one column per spatial axis")
    if ndim is not None and d.shape[0] != ndim:
        raise AffineError("spatial.direction", direction,
                          f"must be {ndim} x {ndim} for {ndim} spatial axes",
                          "give one row and column per spatial axis")
    if not np.all(np.isfinite(d)):
        raise AffineError("spatial.direction", direction, "contains NaN or infinity",
                          "use finite direction cosines")
    err = orthonormality_error(d)
    if orthonormal and err > tol:
        raise AffineError("spatial.direction", direction,
                          f"is not orthonormal (max |D^T D - I| = {err:.2g} > {tol})",
                          "put spacing into `spacing` and shear nowhere; pass unit, orthogonal columns")
    return d


def orthonormality_error(direction: ArrayLike) -> float:
    """``max |DᵀD - I|``: 0 for a rotation/reflection, larger for shear or scaling inside ``direction``."""
    d = np.asarray(direction, dtype=float)
    return float(np.abs(d.T @ d - np.eye(d.shape[1])).max()) if d.size else 0.0


def nearest_orthonormal(direction: ArrayLike) -> np.ndarray:
    """The orthonormal matrix closest to ``direction`` (polar decomposition, ``U Vᵀ`` of its SVD).

    For code that can only show rigid geometry (viewers, converters to formats without shear): it
    keeps each axis's orientation as closely as possible and drops shear and scaling inside ``direction``.
    """
    u, _, vt = np.linalg.svd(np.asarray(direction, dtype=float))
    return u @ vt


def compose_affine(spacing: ArrayLike, origin: ArrayLike, direction: ArrayLike) -> np.ndarray:
    """Build the ``(n+1, n+1)`` affine mapping array index to world coordinates."""
    s = np.asarray(spacing, dtype=float)
    o = np.asarray(origin, dtype=float)
    d = np.asarray(direction, dtype=float)
    n = s.shape[0]
    aff = np.eye(n + 1)
    aff[:n, :n] = d * s[np.newaxis, :]
    aff[:n, n] = o
    return aff


def decompose_affine(affine: ArrayLike, tol: float = ORTHONORMAL_TOL, *,
                     allow_shear: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split an affine into ``(spacing, origin, direction)``: spacing = column lengths, direction =
    unit columns, origin = translation, so ``compose_affine`` gives the affine back.

    Raises :class:`AffineError` for a zero column (an axis without extent). With shear (columns not
    orthogonal) the direction is not orthonormal: refused unless ``allow_shear`` (the metadata model
    keeps such general affines exactly; ``validate()`` reports them).
    """
    try:
        a = np.asarray(affine, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise AffineError("spatial.affine", affine, "must be a matrix of numbers",
                          "pass an (n+1) x (n+1) list of lists of floats") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise AffineError("spatial.affine", affine, "must be a square (n+1) x (n+1) matrix",
                          "pass a homogeneous matrix whose last row is [0, ..., 0, 1]")
    if not np.all(np.isfinite(a)):
        raise AffineError("spatial.affine", affine, "contains NaN or infinity", "use finite values")
    n = a.shape[0] - 1
    bottom = np.zeros(n + 1)
    bottom[-1] = 1
    if not np.allclose(a[n], bottom, atol=1e-8):
        raise AffineError("spatial.affine", affine, "last row must be [0, ..., 0, 1]",
                          "pass a homogeneous affine, not a projective matrix")
    lin = a[:n, :n]
    spacing = np.linalg.norm(lin, axis=0)
    if np.any(spacing <= 0):
        raise AffineError("spatial.affine", affine, "has a zero-length column (degenerate axis)",
                          "each array axis needs a non-zero voxel size")
    direction = lin / spacing[np.newaxis, :]
    err = orthonormality_error(direction)
    if err > tol and not allow_shear:
        raise AffineError("spatial.affine", affine,
                          f"has shear (columns not orthogonal, error {err:.2g})",
                          "resample the image to an orthogonal grid before storing it")
    return spacing, a[:n, n].copy(), direction


def axis_directions(direction: ArrayLike, coord_system: str) -> list[tuple[str, str]]:
    """For each array axis, the anatomical letters it runs *from* and *toward*.

    E.g. an LPS image whose first axis points to +z returns ``("I", "S")`` for it.
    Oblique axes get the letter of their dominant component. Unknown systems give ``("", "")``.
    """
    letters = anatomical_letters(coord_system) or ""
    d = np.asarray(direction, dtype=float)
    if len(letters) != d.shape[0]:
        return [("", "")] * d.shape[1]
    out = []
    for j in range(d.shape[1]):
        k = int(np.argmax(np.abs(d[:, j])))
        toward = letters[k] if d[k, j] > 0 else _OPPOSITE[letters[k]]
        out.append((_OPPOSITE[toward], toward))
    return out


def convert_coord_system(affine: ArrayLike, src: str, dst: str) -> np.ndarray:
    """Re-express an affine from one anatomical system to another (e.g. ``LPS`` -> ``RAS``).

    Both systems must name the same three axes (R/L, A/P, S/I) in some order and sign.
    """
    src_l, dst_l = anatomical_letters(src) or "", anatomical_letters(dst) or ""
    a = np.asarray(affine, dtype=float)
    n = a.shape[0] - 1
    if (src_l or str(src).upper().rstrip("+")) == (dst_l or str(dst).upper().rstrip("+")):
        return a.copy()
    axis_of = _AXIS_OF
    if (len(src_l) != n or len(dst_l) != n
            or sorted(axis_of[c] for c in src_l) != sorted(axis_of[c] for c in dst_l)):
        raise AffineError("spatial.coord_system", (src, dst),
                          "cannot convert between these coordinate systems",
                          "both must be anatomical codes over the same axes, such as RAS and LPS")
    m = np.zeros((n + 1, n + 1))
    m[n, n] = 1
    for i, c in enumerate(dst_l):
        j = next(k for k, s in enumerate(src_l) if axis_of[s] == axis_of[c])
        m[i, j] = 1.0 if src_l[j] == c else -1.0
    return m @ a
