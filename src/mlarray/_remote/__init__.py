"""Reading ``.mla`` files from URLs (HTTP(S), and object stores through fsspec): see :mod:`.store`.

Kept free of heavy imports: ``MLArray.open`` asks :func:`is_url` of every path."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Optional, TypeGuard
from urllib.parse import unquote, urlsplit

from .._errors import MLArrayError

if TYPE_CHECKING:
    from .store import RemoteStore

__all__ = ["is_url", "absolute", "named_path", "open_url_store", "restore_url"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# "https:/host/ct.mla": a URL after pathlib.Path (one slash; on Windows a backslash). The scheme has two
# letters or more, so a Windows drive ("C:/") never matches.
_COLLAPSED = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):[\\/](?![\\/])(.+)$", re.DOTALL)
_REMOTE_SCHEMES = frozenset({"http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "r2"})


def is_url(path: object) -> TypeGuard[str]:
    """Whether ``path`` is a URL string (``scheme://...``) rather than a local path (``file://`` is local)."""
    return isinstance(path, str) and bool(_URL.match(path)) and not path[:7].lower() == "file://"


def absolute(path: str | os.PathLike) -> str:
    """A local path made absolute (as worker processes need it), a URL as it is."""
    return path if isinstance(path, str) and is_url(path) else os.path.abspath(os.fspath(path))


def named_path(path: str | os.PathLike) -> str:
    """What names the file, for decisions by name (format, output name): a local path as it is; a URL without
    its query or fragment, percent-escapes decoded (``https://h/head%20ct.mla?X-Amz-Signature=...`` ->
    ``https://h/head ct.mla``: a signed link names the same file)."""
    if not is_url(path):
        return os.fspath(path)
    parts = urlsplit(path)
    return f"{parts.scheme}://{parts.netloc}{unquote(parts.path)}"


def restore_url(path: str | os.PathLike) -> str:
    """``path`` as a string; a URL that went through ``pathlib.Path`` (``https:/host/ct.mla``) restored.

    MONAI's ``LoadImage`` (unless ``expanduser=False``) and TorchIO's images turn every file name into
    a ``Path`` before a reader sees it, which merges the two slashes after the scheme. A local file or
    folder of that name wins."""
    s = os.fspath(path)
    m = _COLLAPSED.match(s) if isinstance(s, str) else None
    if m is None or m.group(1).lower() not in _REMOTE_SCHEMES or os.path.exists(s):
        return os.fsdecode(s)
    return f"{m.group(1)}://{m.group(2).replace(os.sep, '/')}"


def open_url_store(url: str, mode: str, mmap_mode: Optional[str], verify: bool | str,
                   cache_dir: Optional[str | os.PathLike] = None) -> RemoteStore:
    """The read-only store of the ``.mla`` at ``url``, for ``MLArray.open`` (see :mod:`.store`)."""
    from .._data.array_io import MLARRAY_SUFFIX

    if mode != "r" or mmap_mode not in ("r", None):
        raise MLArrayError(f"{url}: remote files open read-only (mode='r', mmap_mode='r'); got mode={mode!r}, "
                           f"mmap_mode={mmap_mode!r}. To change one, download it and open the local copy")
    if not urlsplit(url).path.endswith(f".{MLARRAY_SUFFIX}"):
        raise MLArrayError(f"{url}: MLArray files end in '.{MLARRAY_SUFFIX}'; check the URL")
    from .store import open_store

    return open_store(url, verify=verify, cache_dir=cache_dir)
