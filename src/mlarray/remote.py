"""Reading ``.mla`` files where they live: ``MLArray.open("https://host/ct.mla")`` (and ``s3://``,
``gs://``, ``az://``, ... through fsspec), read-only and lazy.

Opening reads the MLArray header, the base frame's header and the metadata at the start of its
trailer, never pixels: at most 3 range requests in 3 round trips; 4 when pyramid levels sit in front
of the base frame and its checksums take more than 32 KiB (the base frame's header and the file's
end are then read with overlapping requests, in the same 3 round trips). The first read of the
base array fetches its chunk index and chunk checksums (one request); a pyramid level's frame
carries its own checksums, fetched with it, so a viewer showing a coarse level fetches neither.
A read fetches the chunks it touches, whole, with up to 8 requests in flight (chunks stored next
to each other in one request), and checks each one's CRC-32 (``verify="lazy"``, the default)
before it is decoded; ``verify=True`` fetches and checks every chunk at open, ``verify=False``
skips the checksums. Pyramid levels are read the same way, on first use. Every limit for files
from strangers applies as for local files.

Fetched chunks are kept in one process-wide LRU of compressed chunks, bounded by
``MLARRAY_REMOTE_CACHE_BYTES`` (default 256 MiB), and optionally in a cache folder shared by
processes and runs (``MLArray.open(url, cache_dir=...)`` or ``MLARRAY_REMOTE_CACHE_DIR``, bounded by
``MLARRAY_REMOTE_CACHE_DIR_BYTES``, default 4 GiB), where entries are named by the URL and the file's
version, so a file changed on the server is fetched anew. Timeouts, dropped connections and HTTP 5xx/429
answers are retried with exponential backoff (``MLARRAY_REMOTE_RETRIES``, default 4;
``MLARRAY_REMOTE_TIMEOUT`` seconds, default 30; ``MLARRAY_REMOTE_BACKOFF``, default 0.2 s).

Errors name the URL: :class:`RemoteNotFoundError`, :class:`RemoteForbiddenError`,
:class:`RangeNotSupportedError` (a server that answers Range requests with the whole file),
:class:`RemoteTruncatedError`, :class:`RemoteFileChangedError` (the file's ETag, Last-Modified or size
changed after it was opened: an error, never data of two versions), :class:`RemoteUnavailableError`.
All are :class:`mlarray.MLArrayError`.

Needs ``pip install 'mlarray[remote]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ._remote import is_url
from ._remote.errors import (
    RangeNotSupportedError,
    RemoteError,
    RemoteFileChangedError,
    RemoteForbiddenError,
    RemoteNotFoundError,
    RemoteTruncatedError,
    RemoteUnavailableError,
)

if TYPE_CHECKING:
    from ._remote.store import RemoteFile
    from ._remote.transport import Traffic

__all__ = ["is_url", "traffic", "file_size", "identity", "clear_cache", "RemoteError", "RemoteNotFoundError",
           "RemoteForbiddenError", "RangeNotSupportedError", "RemoteTruncatedError", "RemoteFileChangedError",
           "RemoteUnavailableError"]


def traffic(url: str) -> Optional[Traffic]:
    """Requests sent and bytes received so far by the last open of ``url`` in this process (``requests``,
    ``nbytes``), or None when it is not open."""
    from ._remote.store import opened

    rfile = opened(url)
    return None if rfile is None else rfile.traffic


def _rfile(url: str) -> RemoteFile:
    from ._remote.store import open_store, opened

    rfile = opened(url)
    return rfile if rfile is not None else open_store(url, verify=False).rfile


def file_size(url: str) -> int:
    """Size in bytes of the remote file at ``url`` (opened in this process, else opened now)."""
    return _rfile(url).size


def identity(url: str) -> tuple:
    """What names this version of the remote file: (ETag, Last-Modified, size) as the server sent them."""
    return tuple(_rfile(url).transport.identity)


def clear_cache() -> None:
    """Drop every remote chunk kept in memory."""
    from ._remote.store import cache

    cache.clear()
