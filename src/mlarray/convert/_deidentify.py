"""Patient identifiers out of a record's ``source`` (``mlarray convert --deidentify``, ``deidentify=True``).

By default a converted file keeps its source's header in ``meta.source`` (for DICOM: the first
slice's dataset as DICOM JSON, patient name, ID, birth date and study dates included), and an
OME-Zarr export copies ``source`` into its ``mlarray`` attribute. De-identifying removes, wherever a
DICOM JSON dataset sits in ``source`` (nested ones too, such as the header an OME-Zarr written by
mlarray carries):

- every attribute of the DICOM PS3.15 Basic Application Level Confidentiality Profile (Annex E,
  Table E.1-1), whatever its action there (D, Z, X, U: the original value never stays), including
  the repeating groups (curves, overlay data and comments), as the ``dicom-anonymizer`` package
  (KitwareMedical) keeps that table for each edition of the standard; the newest edition it ships
  is used;
- private attributes (odd groups), which the profile removes too;

and mlarray's own entries that repeat those identifiers: the series and instance UIDs
(``series_uid``, ``sop_instance_uids``, ``referenced_series_uid``, ``on_grid_of``,
``other_series``) and the file names and paths (``files``, ``skipped_files``; DICOM files are
often named after their UIDs). Geometry, pixel description and acquisition parameters stay.
The voxels are not touched: burnt-in annotations are out of scope.
"""

from __future__ import annotations

import dataclasses
import pkgutil
from functools import lru_cache
from typing import Any

from ..optpkg import optional_import
from ._record import ImageRecord

__all__ = ["deidentify_source", "deidentified", "profile_tags"]

# mlarray's entries of ``source`` that repeat UIDs, descriptions or file names
_OWN_IDENTIFYING_KEYS = frozenset({"series_uid", "sop_instance_uids", "referenced_series_uid", "on_grid_of",
                                   "other_series", "files", "skipped_files"})
_NEED = {"feature": "--deidentify (the DICOM PS3.15 Basic Profile attribute table)", "extra": "deidentify"}


@lru_cache(maxsize=1)
def profile_tags() -> tuple[frozenset[int], tuple[tuple[int, int, int, int], ...]]:
    """(tags as ``group << 16 | element``, repeating-group masks ``(group, element, group mask,
    element mask)``) of the Basic Profile, from the newest table ``dicom-anonymizer`` ships."""
    databases = optional_import("dicomanonymizer.dicom_anonymization_databases", **_NEED)
    selector = optional_import("dicomanonymizer.dicomfields_selector", **_NEED)
    names = sorted(m.name for m in pkgutil.iter_modules(databases.__path__) if m.name.startswith("dicomfields_"))
    table = selector.dicom_anonymization_database_selector(names[-1])["ALL_TAGS"]
    exact = frozenset((int(t[0]) << 16) | int(t[1]) for t in table if len(t) == 2)
    masks = tuple((int(t[0]), int(t[1]), int(t[2]), int(t[3])) for t in table if len(t) == 4)
    return exact, masks


def _identifying(tag: int, exact: frozenset[int], masks: tuple[tuple[int, int, int, int], ...]) -> bool:
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 1:  # private
        return True
    if tag in exact:
        return True
    return any(group & gm == g & gm and element & em == e & em for g, e, gm, em in masks)


def _is_dicom_json(obj: dict) -> bool:
    """A DICOM JSON dataset: keys are 8 hex digits, values objects with a "vr"."""
    return bool(obj) and all(isinstance(k, str) and len(k) == 8 and _is_hex(k) and isinstance(v, dict)
                             and "vr" in v for k, v in obj.items())


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _clean(obj: Any, exact: frozenset[int], masks: tuple[tuple[int, int, int, int], ...]) -> Any:
    if isinstance(obj, list):
        return [_clean(v, exact, masks) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if _is_dicom_json(obj):
        out = {}
        for key, elem in obj.items():
            if _identifying(int(key, 16), exact, masks):
                continue
            if elem.get("vr") == "SQ" and isinstance(elem.get("Value"), list):
                elem = {**elem, "Value": [_clean(item, exact, masks) for item in elem["Value"]]}
            out[key] = elem
        return out
    return {k: _clean(v, exact, masks) for k, v in obj.items() if k not in _OWN_IDENTIFYING_KEYS}


def deidentify_source(source: dict | None) -> dict:
    """``source`` without the Basic Profile's attributes, private attributes and mlarray's copies of
    identifiers (see the module docstring); a new dict, ``source`` is left as it was."""
    exact, masks = profile_tags()
    cleaned = _clean(dict(source or {}), exact, masks)
    cleaned["deidentified"] = "DICOM PS3.15 Basic Application Level Confidentiality Profile (source only)"
    return cleaned


def deidentified(record: ImageRecord) -> ImageRecord:
    """A copy of ``record`` (and of its companion label images) with de-identified ``source``; the
    arrays are shared, not copied."""
    companions = {name: deidentified(c) for name, c in record.companions.items()} if record.companions else None
    return dataclasses.replace(record, source=deidentify_source(record.source), companions=companions)
