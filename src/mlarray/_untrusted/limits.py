"""Resource limits for reading files from strangers, and how a trusted file raises them.

A small file must not make the reader spend gigabytes or minutes: metadata that lists millions
of boxes, a pickle of shared references, a JSON entry that inflates a thousandfold, a header that
declares a terabyte. Each limit below is checked *before* the expensive step (decompression,
parsing, validation, allocation) and sits far above what real files hold (the ``real`` column says
what we compared against); a file beyond one raises :class:`LimitExceededError`, whose message
names the limit and both ways to raise it for a file you trust:

* the environment variable ``MLARRAY_<NAME>`` (e.g. ``MLARRAY_MAX_BOXES=20000000``), read at the
  moment of the check, so it also reaches the CLI and worker processes;
* ``with mlarray.limits(max_boxes=20_000_000): ...`` in code (this thread/task only; it wins
  over the environment).

``0`` or ``none`` switches a limit off. The table is repeated in docs/spec.md section 6.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import os
from dataclasses import dataclass
from typing import Iterator, Optional

from .._errors import LimitExceededError, MetadataTypeError

__all__ = ["LIMITS", "Limit", "limit", "limits", "is_overridden", "remedy", "exceeded", "check", "gc_paused",
           "metadata_limits_key", "LimitExceededError"]


@dataclass(frozen=True)
class Limit:
    name: str
    default: Optional[int]  # None: computed when checked (available memory)
    unit: str  # what is counted, as it reads in an error message
    real: str  # the real maxima this default was compared with

    @property
    def env(self) -> str:
        return "MLARRAY_" + self.name.upper()


_MiB = 2**20
LIMITS: dict[str, Limit] = {lim.name: lim for lim in (
    Limit("max_meta_bytes", 256 * _MiB, "bytes of metadata",
          "DICOM headers of enhanced multi-frame series: a few MB; OME-XML of large plates: tens of MB"),
    Limit("max_meta_expansion", 1024, "times its stored size",
          "compact JSON compresses 3-30x; repetitive DICOM per-frame groups about 60x"),
    Limit("max_json_values", 4_000_000, "JSON values (list items and object members)",
          "the DICOM JSON model of a 10,000-frame enhanced MR header: ~1.5 M; NIfTI/NRRD/TIFF headers: < 10^4"),
    Limit("max_boxes", 1_000_000, "bounding boxes",
          "detection targets: <= 10^3 per scan (LUNA16, DeepLesion), <= 10^4 per pathology tile (nuclei)"),
    Limit("max_classes", 100_000, "class-table entries",
          "TotalSegmentator 117, FreeSurfer LUT ~1,300, Allen CCF ~1,300, uint16 instance maps 65,535"),
    Limit("max_levels", 64, "pyramid levels", "halving 2^40 voxels per axis gives 40; slide pyramids 8-12"),
    Limit("max_legacy_pickle_bytes", 16 * _MiB, "bytes of unpacked legacy pickle",
          "metadata pickled by the published mlarray 0.0.x: a few KB"),
    Limit("max_legacy_values", 4_000_000, "pickle values",
          "metadata pickled by the published mlarray 0.0.x: well under 10^5"),
    Limit("max_read_bytes", None, "bytes",
          "default: the memory available now (MemAvailable, capped by the address-space limit)"),
    # not a count: 1 lets converters read files an input refers to outside its folder (symlinks, ...)
    Limit("allow_outside_files", None, "", "off: a header must not make the converter read other files"),
)}

_overrides: contextvars.ContextVar[dict] = contextvars.ContextVar("mlarray_limits", default={})
# The metadata expansion limit only applies to entries larger than this: small metadata is cheap
# whatever its compression ratio (a 1 KB document of zeros may compress 50x).
EXPANSION_FLOOR = _MiB


def _parse(text: str, name: str) -> Optional[int]:
    t = text.strip().lower().replace("_", "")
    if t in ("0", "none", "off", "inf", "unlimited"):
        return None
    try:
        value = int(float(t))
    except ValueError:
        raise LimitExceededError("<environment>", f"{LIMITS[name].env}={text!r} is not a number; "
                                 f"set it to an integer, or to 0 to switch the limit off", name) from None
    return value if value > 0 else None


def limit(name: str) -> Optional[int]:
    """The limit in force for ``name`` (None: no limit, or 'available memory' for ``max_read_bytes``)."""
    over = _overrides.get()
    if name in over:
        return over[name]
    env = os.environ.get(LIMITS[name].env)
    if env is not None and env.strip():
        return _parse(env, name)
    return LIMITS[name].default


_ENV = {name: lim.env for name, lim in LIMITS.items()}


def is_overridden(name: str) -> bool:
    if name in _overrides.get():
        return True
    env = os.environ.get(_ENV[name])
    return env is not None and bool(env.strip())


_METADATA_LIMITS = tuple(n for n in LIMITS if n not in ("max_read_bytes", "allow_outside_files"))


def metadata_limits_key() -> tuple:
    """What decides whether a file's metadata passes: the overrides of the metadata limits in force.
    An open remembered for reuse (``_open_cache``) is reused only under the same key, so a file
    admitted inside ``with limits(max_boxes=...)`` is not admitted by the cache outside it."""
    over = _overrides.get()
    return (tuple(sorted((k, v) for k, v in over.items() if k in _METADATA_LIMITS)) if over else (),
            tuple(os.environ.get(_ENV[n]) for n in _METADATA_LIMITS))


@contextlib.contextmanager
def limits(**values: Optional[int]) -> Iterator[None]:
    """Raise (or lower) limits for the code inside the ``with`` block, e.g. for a trusted file::

        with mlarray.limits(max_boxes=20_000_000):
            img = MLArray.open("all_nuclei.mla")

    ``None`` or ``0`` switches a limit off. Names: see ``mlarray.LIMITS``.
    """
    unknown = sorted(set(values) - set(LIMITS))
    if unknown:
        raise MetadataTypeError("limits", unknown[0], "is an unknown limit", f"known: {', '.join(LIMITS)}")
    new = dict(_overrides.get())
    new.update({k: (None if not v else int(v)) for k, v in values.items()})
    token = _overrides.set(new)
    try:
        yield
    finally:
        _overrides.reset(token)


def remedy(name: str, needed: Optional[int] = None) -> str:
    """How to raise ``name`` for a trusted file: to ``needed`` when the check knows it (it stopped
    counting otherwise, and the text says what N must exceed)."""
    lim = LIMITS[name]
    n = "N" if needed is None else str(needed)
    hint = ""
    if needed is None:
        current = limit(name)
        hint = (f" (N above the current {current:,}; 0 switches the limit off)" if current
                else " (0 switches the limit off)")
    return (f"if you trust this file, raise the limit: environment variable {lim.env}={n}, or "
            f"`with mlarray.limits({name}={n}):` around the call{hint}")


def exceeded(path: object, name: str, value: int, context: str = "", needed: Optional[int] = None,
             limit_value: Optional[int] = None) -> LimitExceededError:
    """The error for ``value`` above the limit ``name`` (the caller raises it)."""
    lim = LIMITS[name]
    allowed = limit(name) if limit_value is None else limit_value
    where = f"{context}: " if context else ""
    return LimitExceededError(path, f"{where}{value:,} {lim.unit}, more than the {allowed:,} allowed "
                                    f"({name}); {remedy(name, needed)}", name)


def check(path: object, name: str, value: int, context: str = "") -> None:
    """Raise :class:`LimitExceededError` when ``value`` is above the limit ``name``."""
    allowed = limit(name)
    if allowed is not None and value > allowed:
        raise exceeded(path, name, value, context, needed=value, limit_value=allowed)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large metadata document is built.

    Parsing creates millions of containers and nothing cyclic; every few hundred allocations
    CPython would scan the growing heap again (a 1 M-box document parsed in 1.5 s with the
    collector running, 0.35 s without)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
