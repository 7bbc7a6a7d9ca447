"""Shared helpers for the reliability suites (used by ``stress/*.py`` and ``tests/reliability``).

Everything that touches a possibly-corrupt file runs in a *subprocess*: a crash in C-Blosc2 must
not take the test runner down.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def subprocess_env() -> dict:
    """Environment for child processes: they import the same ``mlarray`` as the parent."""
    env = dict(os.environ)
    import mlarray

    src = str(Path(mlarray.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, str(REPO / "stress")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def digest(arr) -> str:
    a = np.ascontiguousarray(np.asarray(arr))
    h = hashlib.blake2b(digest_size=16)
    h.update(str(a.dtype).encode() + str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def meta_digest(mapping: dict) -> str:
    return hashlib.blake2b(json.dumps(mapping, sort_keys=True).encode(), digest_size=16).hexdigest()


def frame_regions(path) -> dict:
    """Byte ranges of a b2nd frame: header, chunk data, chunk index, trailer (vlmeta).

    Chunks are located by searching their bytes (``schunk.get_chunk``) in the file, so this relies
    only on the frame's documented header fields (header_len at byte 11, frame_len at 16) and on
    the trailer length stored near the end.
    """
    import blosc2

    data = Path(path).read_bytes()
    header_len = struct.unpack(">i", data[11:15])[0]
    frame_len = struct.unpack(">q", data[16:24])[0]
    assert frame_len == len(data), (frame_len, len(data))
    assert data[-23] == 0xCE
    trailer_len = struct.unpack(">I", data[-22:-18])[0]
    trailer_start = frame_len - trailer_len
    store = blosc2.open(str(path), mode="r")
    spans = []
    for i in range(store.schunk.nchunks):
        c = store.schunk.get_chunk(i)
        pos = data.find(c, header_len)
        if pos >= 0 and len(c) > 32:  # special (zero/uninit) chunks are header-only and live in the index
            spans.append((pos, pos + len(c)))
    chunk_end = max((e for _, e in spans), default=header_len)
    b2nd = data.find(b"b2nd", 0, header_len)
    return {
        "size": len(data),
        "header": (0, header_len),
        "chunks": (header_len, chunk_end),
        "chunk_spans": spans,
        "index": (chunk_end, trailer_start),
        "trailer": (trailer_start, len(data)),
        "b2nd_meta": b2nd,
    }


def make_base_files(directory) -> list[dict]:
    """A few small but representative ``.mla`` files; returns their description and digests."""
    import mlarray
    from mlarray import Meta, MLArray

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    out = []
    specs = [
        ("img2d_pyr", rng.normal(100, 30, (300, 280)).astype(np.float32),
         dict(spacing=(0.5, 0.7), meta=Meta(source={"k": "v"}, extra={"note": "fuzz base"}))),
        ("seg3d", (rng.random((24, 40, 36)) * 5).astype(np.uint8),
         dict(spacing=(1.0, 1.0, 2.0), meta=Meta(is_seg=True, classes={1: "a", 2: "b"}))),
        ("ct3d_int16", rng.normal(0, 200, (20, 70, 66)).astype(np.int16), dict(spacing=(2.0, 0.8, 0.8))),
        ("metaonly", None, dict(meta=Meta(extra={"label": 3, "boxes": [1, 2, 3]}))),
    ]
    for name, arr, kw in specs:
        p = directory / f"{name}.mla"
        MLArray(arr, **kw).save(p)
        img = MLArray.open(p)
        info = {"name": name, "path": str(p), "meta": meta_digest(img.meta.to_mapping())}
        if arr is not None:
            info["data"] = digest(img[...])
            info["levels"] = [digest(lv[...]) for lv in img.levels[1:]]
        img.close()
        info["regions"] = frame_regions(p)
        out.append(info)
    del mlarray
    return out
