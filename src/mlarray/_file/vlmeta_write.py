"""vlmeta writes to an existing file that never make the file shorter.

C-Blosc2 keeps vlmeta in the frame trailer, rewrites the whole trailer in place on every vlmeta
change and then truncates the file to the trailer's new end. A reader that memory-mapped the file
while it was longer dies with SIGBUS (no Python code can catch it) as soon as it touches a page that
was cut off, e.g. the trailer it located a moment earlier. A shorter trailer is common: an edit
that shortens ``mla.meta``, or in-place region writes dropping ``mla.checksums``.

So a write set is applied in an order that never shrinks the file below its length before the
write: entries that grow go first, entries that shrink or disappear last, and the entry
``mla.pad`` (incompressible bytes nobody reads) is resized so that the final trailer is at least as
long as the old one. The file length therefore only ratchets up to the longest trailer it has held
(metadata is kilobytes). vlmeta entries are compressed one by one, so their footprints add up.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Union

from .._types import Store

__all__ = ["PAD_KEY", "write_entries"]

PAD_KEY = "mla.pad"  # filler that keeps the file from shrinking; never read

Value = Union[str, bytes]


def write_entries(store: Store, updates: Mapping[str, Value], deletes: Iterable[str] = ()) -> None:
    """Set ``updates`` and delete ``deletes`` in ``store.vlmeta`` without shortening its file."""
    vl = store.vlmeta
    deletes = [k for k in deletes if k in vl and k not in updates]
    if not getattr(store, "urlpath", None):  # in memory: no readers to protect
        _apply(vl, list(updates.items()), deletes)
        return
    sizer = _Footprint()
    old = {k: sizer(k, vl[k]) for k in list(updates) + deletes if k in vl}
    delta = {k: sizer(k, v) - old.get(k, 0) for k, v in updates.items()}
    delta.update({k: -old[k] for k in deletes})
    pad_old = sizer(PAD_KEY, vl[PAD_KEY]) if PAD_KEY in vl else 0
    pad = _pad_for(sizer, pad_old - sum(delta.values()))
    steps = [(k, v, delta[k]) for k, v in updates.items()] + [(k, None, delta[k]) for k in deletes]
    if pad is None:
        if pad_old:
            steps.append((PAD_KEY, None, -pad_old))
    else:
        steps.append((PAD_KEY, pad, sizer(PAD_KEY, pad) - pad_old))
    steps.sort(key=lambda s: s[2] < 0)  # growing writes first; stable otherwise
    for key, value, _ in steps:
        if value is None:
            del vl[key]
        else:
            vl[key] = value


def _apply(vl: Any, updates: list, deletes: list) -> None:
    for k, v in updates:
        vl[k] = v
    for k in deletes:
        del vl[k]


def _pad_for(sizer: "_Footprint", need: int) -> Optional[bytes]:
    """The shortest filler whose footprint is at least ``need`` bytes (None: no filler needed)."""
    if need <= 0:
        return None
    n = max(0, need - sizer.overhead())
    while True:
        pad = _filler(n)
        got = sizer(PAD_KEY, pad)
        if got >= need:
            return pad
        n += need - got


def _filler(n: int) -> bytes:
    # Incompressible, so its stored size tracks n; deterministic, so files are reproducible.
    import numpy as np

    return np.random.default_rng(n).bytes(n)


class _Footprint:
    """Bytes an entry takes in a frame trailer.

    python-blosc2 stores a vlmeta value as its msgpack bytes compressed on their own with
    ``typesize=1`` and otherwise default parameters; the trailer adds the name and two small
    msgpack headers (checked against real files in ``tests/reliability/test_vlmeta_no_shrink.py``).
    """

    def __init__(self) -> None:
        import blosc2
        from blosc2.msgpack_utils import msgpack_packb

        self._compress = blosc2.compress2
        self._pack = msgpack_packb
        self._cparams = blosc2.CParams(typesize=1)
        self._overhead: Optional[int] = None

    def __call__(self, key: str, value: Value) -> int:
        packed = self._pack(value)
        # name: fixstr marker + bytes, then an int32 offset (5); value: bin32 marker + length (5)
        return len(self._compress(packed, cparams=self._cparams)) + 1 + len(key.encode()) + 5 + 5

    def overhead(self) -> int:
        if self._overhead is None:
            self._overhead = self(PAD_KEY, b"")
        return self._overhead
