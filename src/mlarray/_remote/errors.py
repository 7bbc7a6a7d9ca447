"""Errors of remote reading: each names the URL, what the server did, and what to do about it."""

from __future__ import annotations

from typing import Any

from .._errors import MissingFileError, MLArrayError

__all__ = ["RemoteError", "RemoteNotFoundError", "RemoteForbiddenError", "RangeNotSupportedError",
           "RemoteTruncatedError", "RemoteFileChangedError", "RemoteUnavailableError"]


class RemoteError(MLArrayError, OSError):
    """A remote ``.mla`` could not be read as asked (base class of the errors below)."""

    def __init__(self, url: object, problem: str) -> None:
        self.url = self.path = str(url)
        self.problem = problem
        MLArrayError.__init__(self, f"{self.url}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.problem))


class RemoteNotFoundError(RemoteError, MissingFileError):
    """The server has no file at the URL (HTTP 404/410, or no such object); also a ``FileNotFoundError``."""


class RemoteForbiddenError(RemoteError, PermissionError):
    """The server refuses access (HTTP 401/403); also a ``PermissionError``."""


class RangeNotSupportedError(RemoteError):
    """The server answers byte-range requests with the whole file: lazy reading is impossible."""


class RemoteTruncatedError(RemoteError):
    """An answer carried fewer bytes than the server announced, on every retry."""


class RemoteFileChangedError(RemoteError):
    """The file on the server changed (ETag, Last-Modified or size) after it was opened; no data of the
    two versions is ever mixed: open it again to read the new version."""


class RemoteUnavailableError(RemoteError):
    """The server kept timing out or answering with an error (5xx, 429) after every retry."""
