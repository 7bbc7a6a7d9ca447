"""A whole file from a URL into a local folder, for the formats read only from local files.

``.mla`` files are read lazily from their URL (:mod:`.store`). Other formats (NIfTI, NRRD, DICOM, TIFF, ...)
are read by their own libraries from local files, so ``mlarray convert https://host/ct.nii.gz ct.mla`` fetches
the file first: in bounded range requests through the same transport (retries, errors naming the URL, and a
file that changes on the server mid-download is an error, never a mix of two versions), into a temporary name
renamed when complete.
"""

from __future__ import annotations

import os
import posixpath
from typing import Optional

from .transport import make_transport

__all__ = ["download"]

PIECE = 8 * 2**20  # bytes per range request: memory stays bounded whatever the file's size


def download(url: str, folder: str | os.PathLike, storage_options: Optional[dict] = None) -> str:
    """Fetch ``url`` into ``folder`` under its own file name (query dropped, escapes decoded); returns the path."""
    from . import named_path

    name = posixpath.basename(named_path(url)) or "download"
    path = os.path.join(os.fspath(folder), name)
    partial = path + ".partial"
    transport = make_transport(url, storage_options)
    try:
        with open(partial, "wb") as out:
            offset = 0
            while True:
                piece = transport.read(offset, PIECE)
                out.write(piece)
                offset += len(piece)
                if not piece or len(piece) < PIECE or (transport.size is not None and offset >= transport.size):
                    break
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path
