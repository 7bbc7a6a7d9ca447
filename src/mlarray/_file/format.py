"""On-disk format versions: one class per version, detection, and migration to the current model.

The byte layout (header, pyramid level frames, base frame) is in :mod:`mlarray._file.container`. Inside the
base frame:

* fixed metalayer ``"mla"`` = ``{"version": N}`` marks the format version (written once at creation);
* vlmeta ``"mla.meta"`` = the metadata as UTF-8 JSON (``Meta.to_mapping()``), whose
  ``pyramid.levels`` give each level's offset in the file, sealed with its own CRC-32 and a
  record of whether chunk checksums exist (see :mod:`mlarray._file.seal`);
* vlmeta ``"mla.checksums"`` = CRC-32 of every compressed chunk (see :mod:`mlarray._file.integrity`).

Files written by the published ``mlarray`` 0.0.x package carry no ``"mla"`` metalayer; their
metadata is gzip'd pickle in vlmeta ``"mlarray"`` and is read through an allow-list unpickler.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Optional

from .._errors import CorruptFileError, FormatVersionError, LimitExceededError, MLArrayError
from .._published.files import migrate_published_mapping, read_published_mapping
from .._types import Store
from .._untrusted.limits import LIMITS, check, gc_paused, limit, remedy
from .seal import seal, unseal
from .vlmeta_write import write_entries

__all__ = ["FormatV1", "PublishedPickleFormat", "CURRENT_FORMAT", "detect_format", "check_document_counts"]

# The default limit on metadata text (docs/spec.md section 6; raise it with MLARRAY_MAX_META_BYTES).
MAX_META_BYTES = LIMITS["max_meta_bytes"].default
CHECKSUMS_KEY = "mla.checksums"  # the chunk checksums (see _integrity)


class FormatV1:
    """Spec v1: JSON metadata in the base frame's vlmeta; pyramid levels as frames at offsets."""

    version: ClassVar[int] = 1
    marker: ClassVar[str] = "mla"
    meta_key: ClassVar[str] = "mla.meta"

    @classmethod
    def matches(cls, store: Store) -> bool:
        return cls.marker in store.schunk.meta

    @classmethod
    def read_document(cls, store: Store, path: str) -> tuple[dict, Optional[bool]]:
        """The metadata mapping (checksum verified, see :mod:`mlarray._file.seal`) and whether the file must
        hold chunk checksums (None: not recorded, as in files written before the record existed)."""
        try:
            raw = store.vlmeta[cls.meta_key]
        except KeyError:
            raise CorruptFileError(path, f"the metadata entry {cls.meta_key!r} is missing") from None
        except Exception as exc:  # blosc2 raises RuntimeError/ValueError on damaged trailers
            raise CorruptFileError(path, f"the metadata entry cannot be read ({exc})") from None
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise CorruptFileError(path, "the metadata is not UTF-8 text") from None
        if not isinstance(raw, str):
            raise CorruptFileError(path, f"the metadata entry holds {type(raw).__name__}, not JSON text")
        check(path, "max_meta_bytes", len(raw), "the metadata")
        doc, sums = unseal(raw, parse_json(raw, path), path)
        check_document_counts(doc, path)
        return doc, sums

    @classmethod
    def read_mapping(cls, store: Store, path: str) -> dict:
        return cls.read_document(store, path)[0]

    @classmethod
    def write_mapping(cls, store: Store, mapping: dict, chunk_checksums: Optional[bool] = None) -> None:
        """Store ``mapping`` with its checksum and the chunk-checksum record, in one vlmeta write.

        ``chunk_checksums`` defaults to whether the frame holds them now."""
        text = json.dumps(mapping, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        if chunk_checksums is None:
            chunk_checksums = CHECKSUMS_KEY in store.vlmeta
        write_entries(store, {cls.meta_key: seal(text, chunk_checksums)})

    @classmethod
    def record_no_chunk_checksums(cls, store: Store, path: str) -> None:
        """Rewrite the stored document saying the chunk checksums are gone; called *before* they are
        deleted, so a crash in between never leaves metadata promising checksums that do not exist."""
        mapping, expected = cls.read_document(store, path)
        if expected:
            cls.write_mapping(store, mapping, chunk_checksums=False)

    @classmethod
    def marker_value(cls) -> dict:
        return {"version": cls.version}


class PublishedPickleFormat:
    """Files of the published ``mlarray`` 0.0.x: gzip'd pickle in vlmeta ``"mlarray"`` (read-only)."""

    version: ClassVar[int] = 0
    meta_key: ClassVar[str] = "mlarray"

    @classmethod
    def matches(cls, store: Store) -> bool:
        return cls.meta_key in store.vlmeta

    @classmethod
    def read_document(cls, store: Store, path: str) -> tuple[dict, Optional[bool]]:
        return cls.read_mapping(store, path), None  # 0.0.x wrote no checksums of any kind

    @classmethod
    def read_mapping(cls, store: Store, path: str) -> dict:
        try:
            raw = store.vlmeta[cls.meta_key]
        except Exception as exc:
            raise CorruptFileError(path, f"the legacy metadata entry cannot be read ({exc})") from None
        # 0.0.49+ wrote gzip'd pickle bytes; older releases stored the mapping itself.
        try:
            doc = migrate_published_mapping(read_published_mapping(raw, path))
        except MLArrayError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
            raise CorruptFileError(path, f"the legacy metadata cannot be migrated "
                                         f"({type(exc).__name__}: {exc})") from None
        check_document_counts(doc, path)
        return doc


CURRENT_FORMAT = FormatV1
_KNOWN = {1: FormatV1}


def detect_format(store: Store, path: str) -> Any:
    """The format class that reads ``store``; raises if the file is not MLArray or too new."""
    try:
        if FormatV1.marker in store.schunk.meta:
            marker = store.schunk.meta[FormatV1.marker]
            version = marker.get("version") if isinstance(marker, dict) else None
            if version not in _KNOWN:
                if isinstance(version, int) and version > CURRENT_FORMAT.version:
                    raise FormatVersionError(path, f"was written with MLArray format v{version}; this mlarray "
                                                   f"reads up to v{CURRENT_FORMAT.version}. Upgrade mlarray.")
                raise CorruptFileError(path, f"has an invalid format marker {marker!r}")
            return _KNOWN[version]
        if PublishedPickleFormat.matches(store):
            return PublishedPickleFormat
    except (FormatVersionError, CorruptFileError):
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"the Blosc2 header cannot be read ({exc})") from None
    raise CorruptFileError(path, "is a Blosc2 file but carries no MLArray metadata; "
                                 "open it with blosc2.open, or wrap the array with MLArray(array)")


# A JSON string with its escapes; used to drop strings before counting structure characters.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled loop: no backtracking per character
# A 3-D box [[a,b],[c,d],[e,f]] is 4 lists and 10 values in the text (6 numbers, 4 brackets).
_LISTS_PER_BOX, _VALUES_PER_BOX = 4, 10


_WINDOW = 1 << 20  # strings are removed window by window: re.sub's pieces stay small


def _structure(text: str) -> tuple[int, int, int]:
    """(objects + members, lists, all values) of JSON ``text`` by counting characters: each member
    has a colon, each container a bracket, each value but the first of its container a comma."""
    members = text.count("{") + text.count(":")
    lists = text.count("[")
    return members, lists, members + lists + text.count(",") + 1


def _structure_without_strings(text: str) -> tuple[int, int, int]:
    """:func:`_structure` of ``text`` with every string's content left out (exact for valid JSON).

    Works through the text in 1 MiB windows, so the transient memory stays ~20 MB whatever the text
    (a single ``re.sub`` over 80 MB of short strings held 320 MB of pieces). A string still open at
    a window's end is matched whole from its opening quote and skipped."""
    members = lists = commas = 0
    pos, n = 0, len(text)
    while pos < n:
        end = min(pos + _WINDOW, n)
        chunk = text[pos:end]
        bare = _JSON_STRING.sub("0", chunk)  # no quote in the replacement: a quote left is an open string
        q = bare.find('"')
        if q >= 0 and end < n:
            start = pos + len(chunk) - (len(bare) - q)  # nothing was replaced after the open string
            bare = bare[:q]
            m = _JSON_STRING.match(text, start)
            pos = m.end() if m else n
        else:
            pos = end
        members += bare.count("{") + bare.count(":")
        lists += bare.count("[")
        commas += bare.count(",")
    return members, lists, members + lists + commas + 1


def text_limits() -> Optional[tuple[int, int, int]]:
    """What the text may hold before it is parsed: ``max_json_values`` objects and members, and as
    many lists and values again plus room for ``max_boxes`` 3-D boxes (boxes are lists of lists)."""
    values, boxes = limit("max_json_values"), limit("max_boxes")
    if values is None or boxes is None:
        return None
    return values, values + _LISTS_PER_BOX * boxes, values + _VALUES_PER_BOX * boxes


def check_json_text(text: str, path: str) -> None:
    """Refuse metadata text whose structure exceeds :func:`text_limits`, before anything is built.

    Characters inside strings inflate the counts; when a count is over, it is taken again with the
    strings removed. Worst case allowed by the defaults: ~0.5 GB while parsing (8 M empty lists)."""
    allowed = text_limits()
    if allowed is None:
        return
    counts = _structure(text)
    if all(c <= a for c, a in zip(counts, allowed)):
        return
    counts = _structure_without_strings(text)
    for what, c, a in zip(("objects and members", "lists", "values"), counts, allowed):
        if c > a:
            raise LimitExceededError(
                path, f"the metadata text holds {c:,} JSON {what}, more than the {a:,} that max_json_values "
                      f"({limit('max_json_values'):,}) and max_boxes ({limit('max_boxes'):,}) allow; "
                      f"{remedy('max_json_values', c)} (or max_boxes for a file of many boxes)", "max_json_values")


def parse_json(text: str, path: str) -> dict:
    """Parse metadata JSON, refusing NaN/Infinity constants and documents beyond ``max_json_values``.

    The value count is bounded from the text before anything is built (a 100 KB entry listing 8 M
    boxes used to reach 3.4 GB). CPython's JSON decoder guards its recursion, so hostile nesting
    raises RecursionError (caught here) instead of overflowing the C stack.
    """

    def _no_constants(name: str) -> Any:
        raise CorruptFileError(path, f"the metadata is not valid JSON (non-JSON constant {name})")

    check_json_text(text, path)
    try:
        with gc_paused():
            data = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise CorruptFileError(path, f"the metadata is not valid JSON ({exc})") from None
    except MemoryError:
        raise CorruptFileError(path, "the metadata needs more memory than is available to parse") from None
    if not isinstance(data, dict):
        raise CorruptFileError(path, "the metadata JSON is not an object")
    return data


def _length(doc: dict, *keys: str) -> int:
    """``len()`` of the list at ``doc[k1][k2]...``; 0 when absent or not a list (validation reports types)."""
    node: Any = doc
    for k in keys:
        if not isinstance(node, dict):
            return 0
        node = node.get(k)
    return len(node) if isinstance(node, (list, dict)) else 0


def check_document_counts(doc: dict, path: str) -> None:
    """Boxes, classes, pyramid levels and all other values against their limits, after parsing and
    before validation (which costs several times the parse)."""
    bbox = doc.get("bbox")
    boxes = bbox if isinstance(bbox, list) else bbox.get("bboxes") if isinstance(bbox, dict) else None
    check(path, "max_boxes", len(boxes) if isinstance(boxes, list) else 0, "bbox.bboxes")
    check(path, "max_classes", _length(doc, "classes"), "classes")
    check(path, "max_levels", _length(doc, "pyramid", "levels"), "pyramid.levels")
    allowed = limit("max_json_values")
    if allowed is not None:
        n = count_values(doc, skip=boxes if isinstance(boxes, list) else None, stop=allowed)
        check(path, "max_json_values", n, "the metadata besides bbox.bboxes")


def count_values(doc: Any, skip: Any = None, stop: Optional[int] = None) -> int:
    """Values (list items and object members, nested) in ``doc``, not descending into ``skip``;
    stops counting just past ``stop``."""
    n, stack = 0, [doc]
    while stack:
        node = stack.pop()
        if node is skip:
            continue
        if type(node) is dict:
            n += len(node)
            stack.extend(v for v in node.values() if type(v) is dict or type(v) is list)
        elif type(node) is list:
            n += len(node)
            stack.extend(v for v in node if type(v) is dict or type(v) is list)
        if stop is not None and n > stop:
            break
    return n
