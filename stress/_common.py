"""Shared helpers for the reliability suites (used by ``stress/*.py`` and ``tests/reliability``).

Everything that touches a possibly-corrupt file runs in a *subprocess*: a crash in C-Blosc2 must
not take the test runner down.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def subprocess_env() -> dict:
    """Environment for child processes: they import the same ``mlarray`` as the parent."""
    env = dict(os.environ)
    import mlarray

    src = str(Path(mlarray.__file__).resolve().parent.parent)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([src, str(REPO / "stress")] + inherited)
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


MLA_MAGIC = b"\x89MLA\r\n\x1a\n"  # docs/spec.md section 1; restated here so the suites check the spec
MLA_HEADER = 16


def base_offset_of(path) -> int:
    """Offset of the base frame: bytes 8..16 of the MLArray header, or 0 for a plain (legacy) frame."""
    with open(path, "rb") as fh:
        head = fh.read(MLA_HEADER)
    return struct.unpack("<Q", head[8:16])[0] if head[:8] == MLA_MAGIC else 0


def open_base(path, mode: str = "r"):
    """The base Blosc2 frame of an ``.mla`` file (where ``mla.meta`` and ``mla.checksums`` live)."""
    import blosc2

    return blosc2.open(str(path), mode=mode, offset=base_offset_of(path))


SEAL_KEYS = ("chunk_checksums", "checksum")  # docs/spec.md section 1: appended to the stored document


def unsealed(doc: dict) -> dict:
    """The metadata document without the members the writer seals it with (its CRC, the chunk-checksum record)."""
    for key in SEAL_KEYS:
        doc.pop(key, None)
    return doc


def read_meta_json(path) -> dict:
    """The metadata document of ``path`` (without its seal, so that an edited copy can be written back)."""
    store = open_base(path)  # keep a reference: vlmeta dies with its frame
    return unsealed(json.loads(store.vlmeta["mla.meta"]))


def write_meta_json(path, meta) -> None:
    """Replace the metadata document (a dict, or raw text) in the base frame, as a forger would.

    The text is written unsealed, like a writer from before the metadata checksum existed: the
    reader then has to judge the document on its content alone."""
    store = open_base(path, mode="a")
    store.vlmeta["mla.meta"] = meta if isinstance(meta, str) else json.dumps(meta)
    del store


def drop_checksums(path) -> None:
    """Make ``path`` a file as written before checksums existed: no chunk checksums, no metadata seal."""
    write_meta_json(path, read_meta_json(path))
    store = open_base(path, mode="a")
    if "mla.checksums" in store.vlmeta:
        del store.vlmeta["mla.checksums"]
    del store


def assemble_file(dst, base_frame: bytes, level_frames=(), meta_edit=None) -> list[int]:
    """Write an ``.mla`` file from raw frames (header, levels, base), the way a foreign writer could.

    The metadata's ``pyramid.levels[i]`` offset/nbytes are set to where the given level frames land
    (entries beyond the frames are left as they are), then ``meta_edit(meta)`` may change anything.
    Checksums are kept: a level frame that differs from the original then also mismatches them.
    Returns the level offsets.
    """
    offsets, pos = [], MLA_HEADER
    for f in level_frames:
        offsets.append(pos)
        pos += len(f)
    with open(dst, "wb") as fh:
        fh.write(MLA_MAGIC + struct.pack("<Q", pos))
        for f in level_frames:
            fh.write(f)
        fh.write(base_frame)
    meta = read_meta_json(dst)
    for entry, off, f in zip((meta.get("pyramid") or {}).get("levels") or [], offsets, level_frames):
        entry["offset"], entry["nbytes"] = off, len(f)
    if meta_edit is not None:
        meta_edit(meta)
    write_meta_json(dst, meta)
    return offsets


def split_frames(path) -> tuple[bytes, list[bytes]]:
    """The base frame and the level frames of an ``.mla`` file, as bytes."""
    data = Path(path).read_bytes()
    off = base_offset_of(path)
    levels = (read_meta_json(path).get("pyramid") or {}).get("levels") or []
    return data[off:], [data[lv["offset"]:lv["offset"] + lv["nbytes"]] for lv in levels]


def _frame_parts(data: bytes, off: int, store) -> dict:
    """Absolute byte ranges of the b2nd frame at ``off``: header, chunk data, chunk index, trailer.

    Chunks are located by searching their bytes (``schunk.get_chunk``) in the frame, so this relies
    only on the frame's documented header fields (header_len at byte 11, frame_len at 16) and on
    the trailer length stored near the frame's end.
    """
    header_len = struct.unpack(">i", data[off + 11:off + 15])[0]
    frame_len = struct.unpack(">q", data[off + 16:off + 24])[0]
    end = off + frame_len
    assert 0 < frame_len and end <= len(data), (off, frame_len, len(data))
    assert data[end - 23] == 0xCE
    trailer_len = struct.unpack(">I", data[end - 22:end - 18])[0]
    spans = []
    for i in range(store.schunk.nchunks):
        c = store.schunk.get_chunk(i)
        pos = data.find(c, off + header_len, end)
        if pos >= 0 and len(c) > 32:  # special (zero/uninit) chunks are header-only and live in the index
            spans.append((pos, pos + len(c)))
    chunk_end = max((e for _, e in spans), default=off + header_len)
    return {
        "frame": (off, end),
        "header": (off, off + header_len),
        "chunks": (off + header_len, chunk_end),
        "chunk_spans": spans,
        "index": (chunk_end, end - trailer_len),
        "trailer": (end - trailer_len, end),
        "b2nd_meta": data.find(b"b2nd", off, off + header_len),
    }


def frame_regions(path) -> dict:
    """Byte ranges of an ``.mla`` file (absolute offsets), for targeted mutations.

    ``container``: the 16-byte MLArray header (None for a plain legacy frame); ``header``, ``chunks``,
    ``chunk_spans``, ``index``, ``trailer`` (vlmeta: metadata and checksums), ``b2nd_meta``: parts of
    the base frame, which is last in the file; ``levels``: the same parts for each pyramid level frame
    (placed between the header and the base frame, at the offsets the metadata lists).
    """
    import blosc2

    data = Path(path).read_bytes()
    off = base_offset_of(path)
    base = _frame_parts(data, off, blosc2.open(str(path), mode="r", offset=off))
    assert base["frame"][1] == len(data), "the base frame must be last"
    levels = []
    for lv in (read_meta_json(path).get("pyramid") or {}).get("levels") or []:
        parts = _frame_parts(data, lv["offset"], blosc2.open(str(path), mode="r", offset=lv["offset"]))
        assert parts["frame"] == (lv["offset"], lv["offset"] + lv["nbytes"]), (parts["frame"], lv)
        levels.append(parts)
    return {"size": len(data), "container": (0, MLA_HEADER) if off else None, "base_offset": off,
            **{k: base[k] for k in ("header", "chunks", "chunk_spans", "index", "trailer", "b2nd_meta")},
            "levels": levels}


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
