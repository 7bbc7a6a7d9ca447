"""Byte-range transports for remote ``.mla`` files: HTTP(S) over urllib3, everything else over fsspec.

A transport reads ``read(offset, size)`` exact byte ranges of one remote file and guarantees they all
come from the version of the file it saw first: every HTTP answer's ETag, Last-Modified and total
size are compared with those of the first answer (and ``If-Match`` asks the server to refuse a
changed file itself), so a file replaced while it is read raises :class:`RemoteFileChangedError`
rather than returning bytes of two files. Timeouts, dropped connections, 5xx and 429 answers and
truncated bodies are retried with exponential backoff; what still fails raises a
:class:`RemoteError` subclass naming the URL.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, TypeVar

from ..optpkg import optional_import
from .errors import (
    RangeNotSupportedError,
    RemoteError,
    RemoteFileChangedError,
    RemoteForbiddenError,
    RemoteNotFoundError,
    RemoteTruncatedError,
    RemoteUnavailableError,
)

if TYPE_CHECKING:  # urllib3 is optional (the remote extra): imported where a transport is made
    from urllib3 import BaseHTTPResponse

_T = TypeVar("_T")

__all__ = ["Traffic", "HttpTransport", "FsspecTransport", "make_transport", "settings"]

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def settings() -> dict:
    """Retry and timeout settings, from the environment (read at each open, so tests and users can
    set them without an API): ``MLARRAY_REMOTE_RETRIES`` (4), ``MLARRAY_REMOTE_TIMEOUT`` seconds
    (30, per connect and per read), ``MLARRAY_REMOTE_BACKOFF`` seconds before the first retry (0.2)."""
    return {"retries": int(os.environ.get("MLARRAY_REMOTE_RETRIES", "4")),
            "timeout": float(os.environ.get("MLARRAY_REMOTE_TIMEOUT", "30")),
            "backoff": float(os.environ.get("MLARRAY_REMOTE_BACKOFF", "0.2"))}


class Traffic:
    """Requests sent and bytes received by one remote file (thread-safe)."""

    def __init__(self) -> None:
        self.requests = 0
        self.nbytes = 0
        self._lock = threading.Lock()

    def charge(self, nbytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.nbytes += nbytes

    def __repr__(self) -> str:
        return f"Traffic(requests={self.requests}, nbytes={self.nbytes})"


def _sleep_before(attempt: int, backoff: float) -> None:
    # full jitter: concurrent readers that failed together do not retry together
    time.sleep(random.uniform(0.5, 1.0) * backoff * (2 ** attempt))


class HttpTransport:
    """Range requests over one urllib3 pool (thread-safe: chunk reads overlap in a thread pool)."""

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        urllib3 = optional_import("urllib3", feature="reading .mla files over HTTP(S)", extra="remote")
        self.url = url
        self.traffic = Traffic()
        opts = settings()
        self._retries, self._backoff = opts["retries"], opts["backoff"]
        self._urllib3 = urllib3
        self._pool = urllib3.PoolManager(maxsize=max_connections, block=False, retries=False,
                                         timeout=urllib3.Timeout(connect=opts["timeout"], read=opts["timeout"]))
        self.size: Optional[int] = None
        self._identity: Optional[dict] = None  # etag / last-modified of the first answer

    def read(self, offset: int, size: int) -> bytes:
        """The ``size`` bytes at ``offset`` (fewer only at the end of the file)."""
        if size <= 0:
            return b""
        if self.size is not None:
            size = min(size, self.size - offset)
            if size <= 0:
                return b""
        last = None
        for attempt in range(self._retries + 1):
            if attempt:
                _sleep_before(attempt - 1, self._backoff)
            try:
                return self._request(offset, size)
            except _Retry as exc:
                last = exc
        assert last is not None
        raise last.final(self.url)

    def _request(self, offset: int, size: int) -> bytes:
        u3 = self._urllib3
        headers = {"Range": f"bytes={offset}-{offset + size - 1}", "Accept-Encoding": "identity"}
        etag = (self._identity or {}).get("etag")
        if etag and not etag.startswith("W/"):
            headers["If-Match"] = etag  # a server that checks it refuses a changed file itself (412)
        try:
            r = self._pool.request("GET", self.url, headers=headers, preload_content=False, redirect=True)
        except (u3.exceptions.TimeoutError, u3.exceptions.ProtocolError, u3.exceptions.NewConnectionError,
                u3.exceptions.MaxRetryError, u3.exceptions.SSLError, OSError) as exc:
            problem = (f"cannot be reached ({type(exc).__name__}: {exc}); check that the server is running and "
                       "the URL's host and port, then try again")
            raise _Retry(RemoteUnavailableError, problem) from None
        try:
            return self._answer(r, offset, size)
        except BaseException:
            r.close()  # whatever is left unread (an error page, a whole file) is never read, nor reused
            raise
        finally:
            r.release_conn()

    def _answer(self, r: BaseHTTPResponse, offset: int, size: int) -> bytes:
        status = r.status
        if status in (404, 410):
            raise RemoteNotFoundError(self.url, f"the server has no file here (HTTP {status}); check the URL")
        if status in (401, 403):
            raise RemoteForbiddenError(self.url, f"the server refuses access (HTTP {status}); check the URL's "
                                                 "credentials or signature, or the file's permissions")
        if status == 412:
            raise self._changed("the server says it no longer matches the ETag it had when opened (HTTP 412)")
        if status >= 500 or status == 429:
            raise _Retry(RemoteUnavailableError, f"the server answered HTTP {status} on every retry; "
                                                 "try again later")
        if status == 200:
            # The whole file instead of a range: never download it (it may be terabytes); closed unread.
            raise RangeNotSupportedError(self.url, "the server ignores HTTP Range requests (it answered 200 "
                                                   "with the whole file), so the file cannot be read lazily; "
                                                   "serve it from a server that supports Range (nginx, Caddy, "
                                                   "S3-compatible stores), or download it and open the local copy")
        if status == 416:
            raise self._changed("a byte range inside the file as opened lies beyond its end now (HTTP 416)")
        if status != 206:
            raise RemoteError(self.url, f"the server answered HTTP {status} to a byte-range request")
        m = _CONTENT_RANGE.fullmatch(r.headers.get("Content-Range", "").strip())
        if m is None:
            raise RangeNotSupportedError(self.url, "the server's partial answer has no valid Content-Range "
                                                   f"header ({r.headers.get('Content-Range')!r})")
        start, end, total = int(m.group(1)), int(m.group(2)), m.group(3)
        self._check_identity(r.headers, None if total == "*" else int(total))
        if start != offset or end > offset + size - 1:
            raise RemoteError(self.url, f"the server sent bytes {start}-{end} for a request of bytes "
                                        f"{offset}-{offset + size - 1}")
        try:
            body = r.read()
        except (self._urllib3.exceptions.ProtocolError, self._urllib3.exceptions.TimeoutError, OSError) as exc:
            raise _Retry(RemoteTruncatedError, f"the answer for bytes {offset}-{offset + size - 1} was truncated "
                                               f"(the connection broke off: {type(exc).__name__}) on every "
                                               "retry") from None
        want = end - start + 1
        if len(body) != want:
            raise _Retry(RemoteTruncatedError, f"the answer for bytes {start}-{end} carried {len(body)} of "
                                               f"{want} bytes on every retry (truncated by the network or server)")
        if end < offset + size - 1 and end + 1 != self.size:
            raise _Retry(RemoteTruncatedError, f"the server sent bytes {start}-{end} of {offset}-{offset + size - 1}"
                                               " and the file does not end there")
        self.traffic.charge(len(body))
        return body

    def _check_identity(self, headers: Mapping[str, str], total: Optional[int]) -> None:
        seen = {"etag": headers.get("ETag"), "modified": headers.get("Last-Modified"), "size": total}
        with _IDENTITY_LOCK:
            if self._identity is None:
                self._identity, self.size = seen, total
                return
        for key, what in (("etag", "ETag"), ("modified", "Last-Modified"), ("size", "size")):
            before, now = self._identity.get(key), seen[key]
            if before is not None and now is not None and before != now:
                raise self._changed(f"its {what} changed from {before} to {now}")

    def _changed(self, how: str) -> RemoteFileChangedError:
        return RemoteFileChangedError(self.url, f"the file changed on the server after it was opened ({how}); "
                                                "nothing of the new version was returned: open it again to read it")

    @property
    def identity(self) -> tuple:
        i = self._identity or {}
        return (i.get("etag"), i.get("modified"), self.size)


_IDENTITY_LOCK = threading.Lock()


class _Retry(Exception):
    """A failure worth retrying; :meth:`final` is the error raised when retries are exhausted."""

    def __init__(self, cls: type[RemoteError], problem: str) -> None:
        super().__init__(problem)
        self.cls, self.problem = cls, problem

    def final(self, url: str) -> RemoteError:
        return self.cls(url, self.problem)


class FsspecTransport:
    """Range reads through fsspec (``s3://``, ``gs://``, ``az://``, ``memory://``, ...).

    The file's identity (ETag or modification time, and size) is taken once at open; fsspec does not
    hand back the headers of each range read, so a replacement is detected by the frame checks and the
    chunk checksums rather than per request as over HTTP."""

    def __init__(self, url: str, storage_options: Optional[dict] = None) -> None:
        fsspec = optional_import("fsspec", feature=f"reading .mla files from {url.split('://')[0]}:// URLs",
                                 extra="remote")
        self.url = url
        self.traffic = Traffic()
        opts = settings()
        self._retries, self._backoff = opts["retries"], opts["backoff"]
        try:
            self._fs, self._path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise RemoteError(url, f"no fsspec filesystem can read this URL ({exc}); install the one for its "
                                   "scheme (s3fs, gcsfs, adlfs)") from None
        info = self._call(self._fs.info, self._path)
        self.traffic.charge(0)
        self.size = int(info["size"])
        self.identity = (info.get("ETag", info.get("etag")), str(info.get("LastModified", info.get("mtime", ""))),
                         self.size)

    def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        last: Optional[BaseException] = None
        for attempt in range(self._retries + 1):
            if attempt:
                _sleep_before(attempt - 1, self._backoff)
            try:
                return fn(*args, **kwargs)
            except FileNotFoundError:
                raise RemoteNotFoundError(self.url, "no such file or object; check the URL") from None
            except PermissionError:
                raise RemoteForbiddenError(self.url, "access is refused; check the credentials "
                                                     "(storage_options) or the object's permissions") from None
            except (TimeoutError, ConnectionError, OSError) as exc:
                last = exc
        raise RemoteUnavailableError(self.url, f"cannot be read ({type(last).__name__}: {last}) after "
                                               f"{self._retries} retries")

    def read(self, offset: int, size: int) -> bytes:
        size = min(size, self.size - offset)
        if size <= 0:
            return b""
        data = self._call(self._fs.cat_file, self._path, start=offset, end=offset + size)
        if len(data) != size:
            raise RemoteTruncatedError(self.url, f"a read of bytes {offset}-{offset + size - 1} returned "
                                                 f"{len(data)} bytes (the object is shorter than when opened)")
        self.traffic.charge(len(data))
        return data


def make_transport(url: str, storage_options: Optional[dict] = None) -> HttpTransport | FsspecTransport:
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("http", "https"):
        return HttpTransport(url)
    return FsspecTransport(url, storage_options)
