"""What a remote open and a viewer's first frame fetch, byte range by byte range (issue 25 §1, §5): the
metadata, not the base frame's chunk index nor its entry of every chunk's checksum, which come with the
first read of the base array; a pyramid level is verified with the checksums its own frame carries."""

from __future__ import annotations

import re
from pathlib import Path

import blosc2
import numpy as np
import pytest

from mlarray import MLArray
from mlarray._errors import CorruptFileError
from mlarray._file import integrity
from mlarray._file.container import base_offset
from mlarray._file.frame_check import check_vlmeta_entries_in, frame_header, trailer_span


def _slide(path: Path) -> np.ndarray:
    """A 2048² uint8 slide in 16² chunks: 16384 base chunks, whose checksum entry (~88 KB) and chunk index
    lie beyond the 32 KiB an open reads of the file's end, as those of a 40000² slide do."""
    yy, xx = np.mgrid[0:2048, 0:2048]
    arr = ((yy * 7 + xx * 3) % 251 + np.random.default_rng(0).integers(0, 4, (2048, 2048))).astype(np.uint8)
    MLArray(arr, chunk_size=[16, 16], block_size=[16, 16]).save(path, pyramid=True)
    return arr


def _spans(path: Path) -> dict:
    """Byte spans of the base frame's chunk index and checksum entry in the local file."""
    off = base_offset(str(path))
    size = path.stat().st_size
    with open(path, "rb") as fh:
        h = frame_header(fh, off, str(path))
        trailer, _ = trailer_span(fh, off, size, str(path))
        entries = {name: (pos, pos + n) for name, pos, n in check_vlmeta_entries_in(fh, off, size, str(path))}
    return {"index": (off + h["header_len"] + h["cbytes"], trailer), "checksums": entries[integrity.KEY]}


def _fetched(rec) -> list[tuple[int, int]]:
    out = []
    for _, rng in rec.requests:
        m = re.match(r"bytes=(\d+)-(\d+)", rng)
        assert m, f"a request without a byte range: {rng!r}"
        out.append((int(m.group(1)), int(m.group(2)) + 1))
    return out


def _overlap(fetched: list[tuple[int, int]], span: tuple[int, int]) -> int:
    return sum(max(0, min(b, span[1]) - max(a, span[0])) for a, b in fetched)


@pytest.fixture
def slide(http_server, tmp_path):
    url, rec = http_server
    arr = _slide(tmp_path / "slide.mla")
    return f"{url}/slide.mla", rec, arr, tmp_path / "slide.mla"


def test_a_coarse_level_is_shown_without_the_base_index_or_checksum_entry(slide):
    url, rec, arr, path = slide
    spans = _spans(path)
    assert spans["checksums"][1] - spans["checksums"][0] > 64 * 1024 and spans["index"][1] - spans["index"][0] > 4096
    img = MLArray.open(url)
    # the header; the base frame's header and the file's end (the trailer's length), overlapping; the
    # trailer's start (the metadata): three round trips
    assert len(rec.requests) <= 4
    top = img.levels[-1][...]
    np.testing.assert_array_equal(top, MLArray.open(path).levels[-1][...])
    fetched = _fetched(rec)
    assert _overlap(fetched, spans["index"]) == 0  # the base chunk index: not needed for a level
    # nor the checksum entry of every base chunk: at most the file's last 32 KiB and the trailer's first 8 KiB
    assert _overlap(fetched, spans["checksums"]) <= 40 * 1024 < (spans["checksums"][1] - spans["checksums"][0]) / 2
    base = _overlap(fetched, (base_offset(str(path)), path.stat().st_size))
    assert base <= 8 * 1024 + 32 * 1024 + 8 * 1024  # base frame: its header, the file's end, the trailer's start


def test_the_first_base_read_fetches_index_and_checksums_once_and_verifies(slide):
    url, rec, arr, path = slide
    spans = _spans(path)
    img = MLArray.open(url)
    rec.reset()
    np.testing.assert_array_equal(img[100:300, 500:700], arr[100:300, 500:700])
    fetched = _fetched(rec)
    # the index and the checksum entry the read checks its chunks with, in one request
    assert [(a, b) for a, b in fetched if a <= spans["index"][0] < b and spans["checksums"][1] <= b] == \
        [(a, b) for a, b in fetched if _overlap([(a, b)], spans["index"]) or _overlap([(a, b)], spans["checksums"])]
    assert _overlap(fetched, spans["index"]) == spans["index"][1] - spans["index"][0]
    rec.reset()
    np.testing.assert_array_equal(img[1000:1100, 0:2048], arr[1000:1100, 0:2048])
    fetched = _fetched(rec)
    assert _overlap(fetched, spans["index"]) == 0 and _overlap(fetched, spans["checksums"]) == 0  # kept
    # the checksums fetched lazily are the ones checked: a flipped bit in a base chunk is refused
    raw = bytearray(path.read_bytes())
    frame = blosc2.open(str(path), offset=base_offset(str(path)))
    chunk = bytes(frame.schunk.get_chunk(2047 // 16 * 128 + 25))  # in the last row of chunks, not read yet
    pos = raw.find(chunk, base_offset(str(path)))
    raw[pos + len(chunk) // 2] ^= 0x01
    path.write_bytes(bytes(raw))  # a chunk no read has fetched yet: a new open fetches it and its checksums
    with pytest.raises(CorruptFileError, match="checksum"):
        MLArray.open(url)[2040:2048, 400:416]


def test_levels_carry_their_own_checksums_and_a_damaged_level_chunk_is_refused(slide):
    url, rec, arr, path = slide
    local = MLArray.open(path)
    base = blosc2.open(str(path), offset=base_offset(str(path)))
    sums = integrity.read_checksums(base, str(path))
    entries = local.meta.pyramid.levels
    assert len(entries) >= 2
    for k, entry in enumerate(entries, start=1):
        lv = blosc2.open(str(path), offset=int(entry["offset"]))
        np.testing.assert_array_equal(integrity.frame_checksums(lv.schunk.vlmeta, str(path), f"level {k}"),
                                      sums.levels[str(k)])
    # flip a bit in level 1's first chunk: the remote read refuses it with the level's own checksums
    lv1 = blosc2.open(str(path), offset=int(entries[0]["offset"]))
    chunk = bytes(lv1.schunk.get_chunk(0))
    raw = bytearray(path.read_bytes())
    pos = raw.find(chunk, int(entries[0]["offset"]))
    raw[pos + len(chunk) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    spans = _spans(path)
    rec.reset()
    img = MLArray.open(url)
    with pytest.raises(CorruptFileError, match="level 1.*checksum") as e:
        img.levels[1][0:10, 0:10]
    assert url in str(e.value)
    assert _overlap(_fetched(rec), spans["checksums"]) <= 40 * 1024  # not the base entry (only the open's end)


def test_levels_of_files_written_before_levels_carried_checksums_are_still_verified(http_server, tmp_path,
                                                                                     monkeypatch):
    url, rec = http_server
    # what versions before this one wrote: level frames without their own entry
    monkeypatch.setattr(integrity, "frame_with_checksums", lambda frame, sums: frame)
    arr = _slide(tmp_path / "old.mla")
    monkeypatch.undo()
    path = tmp_path / "old.mla"
    entries = MLArray.open(path).meta.pyramid.levels
    lv1 = blosc2.open(str(path), offset=int(entries[0]["offset"]))
    assert integrity.KEY not in lv1.schunk.vlmeta
    img = MLArray.open(f"{url}/old.mla")
    np.testing.assert_array_equal(img.levels[1][...], MLArray.open(path).levels[1][...])
    chunk = bytes(lv1.schunk.get_chunk(3))
    raw = bytearray(path.read_bytes())
    pos = raw.find(chunk, int(entries[0]["offset"]))
    raw[pos + len(chunk) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="level 1.*checksum"):
        np.asarray(MLArray.open(f"{url}/old.mla").levels[1][...])
    assert arr.shape == (2048, 2048)
