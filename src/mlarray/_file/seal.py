"""The metadata document's own checksum, and its record of whether chunk checksums exist.

vlmeta ``mla.meta`` holds the document of docs/spec.md section 2 as compact JSON text ``D``,
extended at its end by two members, all in one vlmeta write::

    B      = D without its final "}" + ',"chunk_checksums":true}'      (or false)
    stored = B without its final "}" + ',"checksum":"crc32:<8 hex digits>"}'   CRC-32 of B as UTF-8

* ``checksum`` catches damage that still parses: small vlmeta entries are stored uncompressed,
  so a flipped digit of ``spacing`` used to read back as different, valid metadata (6 in 10,000
  fuzz cases). The CRC is taken over the stored text itself, so no canonical re-serialisation is
  needed and any writer can produce it.
* ``chunk_checksums`` says whether the frame holds vlmeta ``mla.checksums``. Without it, a
  damaged entry *name* made a file look as if written without chunk checksums, and damaged
  chunks then read back as silent garbage (fuzz case 6236).

Both change only together with the document, so an interrupted edit cannot leave them
disagreeing. Documents without ``checksum`` (files written before it existed) are read as before.
"""

from __future__ import annotations

import re
import zlib
from typing import Optional

from .._errors import CorruptFileError

__all__ = ["seal", "unseal", "SEAL_KEYS"]

SEAL_KEYS = ("chunk_checksums", "checksum")
_SEAL = re.compile(r',?"checksum":"crc32:([0-9a-f]{8})"\}\Z')
_REMEDY = "restore the file from a backup or re-create it from its source"


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF


def _append_member(obj_text: str, member: str) -> str:
    """``{...}`` with ``member`` (``"key":value``) added as its last member."""
    inner = obj_text[1:-1]
    return "{" + inner + ("," if inner else "") + member + "}"


def seal(document_text: str, chunk_checksums: bool) -> str:
    """The text stored in ``mla.meta``: the document, the chunk-checksum record and the CRC of both."""
    body = _append_member(document_text, f'"chunk_checksums":{"true" if chunk_checksums else "false"}')
    return _append_member(body, f'"checksum":"crc32:{_crc(body):08x}"')


def unseal(text: str, doc: dict, path: str) -> tuple[dict, Optional[bool]]:
    """Verify the stored text's checksum and remove the two members from the parsed ``doc``.

    Returns the document and whether the file must hold chunk checksums (None: not recorded).
    """
    if "checksum" in doc:
        m = _SEAL.search(text)
        if m is None:
            raise CorruptFileError(path, f"the metadata's checksum member is damaged (it must be the last member, "
                                         f'"checksum":"crc32:<8 hex digits>"); {_REMEDY}')
        body = text[:m.start()] + "}"
        if _crc(body) != int(m.group(1), 16):
            raise CorruptFileError(path, f"the metadata is corrupted: its CRC-32 is {_crc(body):08x} but the file "
                                         f"recorded {m.group(1)}; {_REMEDY}")
        del doc["checksum"]
    chunk_checksums = doc.pop("chunk_checksums", None)
    if chunk_checksums is not None and not isinstance(chunk_checksums, bool):
        raise CorruptFileError(path, f"the metadata's chunk_checksums must be true or false, got "
                                     f"{chunk_checksums!r}; {_REMEDY}")
    return doc, chunk_checksums
