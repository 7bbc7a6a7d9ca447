"""An optional cache folder of remote chunks, shared by processes and kept between runs.

``MLArray.open(url, cache_dir=...)`` or ``MLARRAY_REMOTE_CACHE_DIR`` turn it on. Each entry is one
verified compressed chunk, named by a hash of (URL, the file's ETag / Last-Modified / size, frame
offset, chunk number): a file changed on the server has another identity, so its old chunks are
never served for it (they age out). Only files whose server names a version (an ETag or a
Last-Modified) are cached: without one nothing says two runs saw the same file.

Safe with concurrent processes: an entry is written to a temporary file in the same folder and
renamed into place (readers see a whole entry or none), and each carries its length and CRC-32, so
an entry damaged on disk is dropped and fetched again. The folder is bounded by
``MLARRAY_REMOTE_CACHE_DIR_BYTES`` (default 4 GiB): when a process finds it over the bound, it
deletes the least recently used entries (by modification time, refreshed on use) down to 90 %.
Writing is best effort: a full or read-only disk costs a warning once, never a failed read.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
import time
import warnings
from typing import Optional

from .._errors import MLArrayError
from .._file.integrity import crc32

__all__ = ["DiskCache", "disk_cache", "resolve_dir"]

_MAGIC = b"MLACHK1\0"  # the entry format: magic, length and CRC-32 of the chunk, the chunk
_HEAD = struct.Struct("<8sQI")
_TMP = ".tmp-"
_STALE_TMP_S = 3600  # a temporary file this old was left by a process that died while writing
_TOUCH_S = 60  # refresh an entry's time on use at most this often (a hit is otherwise read-only)


def resolve_dir(cache_dir: Optional[str | os.PathLike]) -> Optional[str]:
    """The cache folder asked for: the argument, else ``MLARRAY_REMOTE_CACHE_DIR``, else None (no folder)."""
    if cache_dir is None:
        cache_dir = os.environ.get("MLARRAY_REMOTE_CACHE_DIR") or None
    return None if cache_dir is None else os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))


def _max_bytes() -> int:
    raw = os.environ.get("MLARRAY_REMOTE_CACHE_DIR_BYTES", str(4 * 2**30))
    try:
        value = int(raw)
    except ValueError:
        raise MLArrayError(f"MLARRAY_REMOTE_CACHE_DIR_BYTES={raw!r} is not a number of bytes; set it to e.g. "
                           f"{4 * 2**30} (4 GiB)") from None
    if value <= 0:
        raise MLArrayError(f"MLARRAY_REMOTE_CACHE_DIR_BYTES={raw!r} must be a positive number of bytes")
    return value


class DiskCache:
    """Chunks under ``root`` (two-level folders by hash), at most ``max_bytes`` of them."""

    def __init__(self, root: str, max_bytes: int) -> None:
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise MLArrayError(f"cache_dir={root!r} cannot be created ({exc.strerror}); give a writable folder, "
                               "or none to keep remote chunks in memory only") from None
        self.root, self.max_bytes = root, max_bytes
        self._lock = threading.Lock()
        self._added = 0  # bytes written since the folder was last measured
        self._measured: Optional[int] = None
        self._warned = False

    @staticmethod
    def _name(key: tuple) -> str:
        return hashlib.sha256(repr(key).encode("utf-8", "surrogatepass")).hexdigest()

    def _path(self, key: tuple) -> str:
        name = self._name(key)
        return os.path.join(self.root, name[:2], name)

    def get(self, key: tuple) -> Optional[bytes]:
        """The chunk stored for ``key``, or None (absent, being evicted, or damaged: then dropped)."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        if len(raw) >= _HEAD.size:
            magic, n, crc = _HEAD.unpack_from(raw)
            data = raw[_HEAD.size:]
            if magic == _MAGIC and n == len(data) and crc32(data) == crc:
                if time.time() - mtime > _TOUCH_S:
                    try:
                        os.utime(path)  # recently used: evicted last
                    except OSError:
                        pass
                return data
        self.drop(key)
        return None

    def drop(self, key: tuple) -> None:
        try:
            os.unlink(self._path(key))
        except OSError:
            pass

    def put(self, key: tuple, data: bytes) -> None:
        if len(data) + _HEAD.size > self.max_bytes:
            return
        path = self._path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP, dir=os.path.dirname(path))
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_HEAD.pack(_MAGIC, len(data), crc32(data)))
                    f.write(data)
                os.replace(tmp, path)  # atomic: a concurrent reader sees the whole entry or none
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError as exc:
            if not self._warned:
                self._warned = True
                warnings.warn(f"remote chunks cannot be written to the cache folder {self.root} ({exc.strerror}); "
                              "reading goes on without it", stacklevel=2)
            return
        with self._lock:
            self._added += len(data) + _HEAD.size
            over = self._measured is None or self._measured + self._added > self.max_bytes
        if over:
            self.evict()

    def evict(self) -> None:
        """Measure the folder; above the bound, delete the least recently used entries down to 90 % of it.

        Every process does this on its own: another process's entries count too, and one deleted
        under a reader is only a miss for it."""
        entries, total, now = [], 0, time.time()
        for sub in _scandir(self.root):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for e in _scandir(sub.path):
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if e.name.startswith(_TMP):
                    if now - st.st_mtime > _STALE_TMP_S:
                        _unlink(e.path)
                    continue
                entries.append((st.st_mtime, st.st_size, e.path))
                total += st.st_size
        if total > self.max_bytes:
            entries.sort()
            target = int(self.max_bytes * 0.9)
            for _, size, path in entries:
                if total <= target:
                    break
                if _unlink(path):
                    total -= size
        with self._lock:
            self._measured, self._added = total, 0

    def nbytes(self) -> int:
        """Bytes in the folder now (every process's entries)."""
        total = 0
        for sub in _scandir(self.root):
            for e in _scandir(sub.path) if sub.is_dir(follow_symlinks=False) else []:
                try:
                    total += 0 if e.name.startswith(_TMP) else e.stat(follow_symlinks=False).st_size
                except OSError:
                    pass  # evicted by another process meanwhile
        return total


def _scandir(path: str) -> list:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


_CACHES: dict[tuple[str, int], DiskCache] = {}
_CACHES_LOCK = threading.Lock()


def disk_cache(cache_dir: Optional[str | os.PathLike]) -> Optional[DiskCache]:
    """The process's cache over the folder asked for (see :func:`resolve_dir`), or None."""
    root = resolve_dir(cache_dir)
    if root is None:
        return None
    key = (root, _max_bytes())
    with _CACHES_LOCK:
        if key not in _CACHES:
            _CACHES[key] = DiskCache(*key)
        return _CACHES[key]
