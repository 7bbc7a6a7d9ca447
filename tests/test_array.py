"""MLArray API: the published package's documented usage, the v1 container, pyramid, stats."""

import json
import os
import pickle

import blosc2
import numpy as np
import pytest

from mlarray import CorruptFileError, Meta, MetadataError, MLArray, MLArrayError
from mlarray._file.container import MAGIC, base_offset


def open_base_frame(p):
    """The base array as plain Blosc2 sees it: a frame at the offset the 16-byte header names."""
    return blosc2.open(str(p), offset=base_offset(str(p)))


@pytest.fixture
def ct():
    rng = np.random.default_rng(0)
    return (rng.normal(0, 100, (40, 300, 70))).astype(np.int16)


def test_default_usage_round_trip(tmp_path, ct):
    p = tmp_path / "sample.mla"
    MLArray(ct).save(p)
    img = MLArray(str(p))
    np.testing.assert_array_equal(img.to_numpy(), ct)
    assert img.dtype == np.int16 and img.shape == ct.shape
    assert img.meta.has_array


def test_metadata_usage_from_published_readme(tmp_path):
    arr = np.random.default_rng(1).random((16, 32, 32)).astype(np.float32)
    image = MLArray(arr, spacing=(1.0, 1.0, 1.5), origin=(10.0, 10.0, 30.0),
                    direction=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], meta={"patient_id": "123", "modality": "CT"})
    assert image.spacing == [1.0, 1.0, 1.5]
    assert image.origin == [10.0, 10.0, 30.0]
    assert image.meta.source == {"patient_id": "123", "modality": "CT"}
    image.spacing[1] = 5.3
    image.meta.source["study_id"] = "study-001"
    p = tmp_path / "with-metadata.mla"
    image.save(p)

    image = MLArray.open(p, mmap_mode="r+")
    assert image.spacing == [1.0, 5.3, 1.5]
    np.testing.assert_allclose(image.affine, np.diag([1.0, 5.3, 1.5, 1.0]) + np.pad(
        np.array([[10.0], [10.0], [30.0]]), ((0, 1), (3, 0))))
    image.meta.source["study_id"] = "new-study"
    image.close()
    assert MLArray.open(p).meta.source["study_id"] == "new-study"


def test_meta_object_usage_and_copy(tmp_path):
    arr = np.zeros((8, 8, 8), np.uint8)
    image = MLArray(arr, meta=Meta(source={"patient_id": "123"}, is_seg=True))
    assert image.meta.is_seg is True
    image.meta.is_seg = False
    base = MLArray(arr, spacing=(0.5, 0.5, 2.0), meta={"k": "v"})
    copied = MLArray(arr, spacing=(0.8, 0.8, 1.0), copy=base)
    assert copied.spacing == [0.8, 0.8, 1.0]  # explicit wins
    assert copied.meta.source == {"k": "v"}  # the rest comes from `copy`


def test_mmap_partial_reads_and_in_place_writes(tmp_path, ct):
    p = tmp_path / "sample.mla"
    MLArray(ct).save(p)
    size_before = os.path.getsize(p)
    img = MLArray.open(p, mmap_mode="r")
    np.testing.assert_array_equal(img[10:20, 50:60], ct[10:20, 50:60])
    with pytest.raises(MLArrayError, match="read-only"):
        img[0, 0, 0] = 1
    img = MLArray.open(p, mmap_mode="r+")
    img[10:20, 50:60] *= 5
    img.close()
    expected = ct.copy()
    expected[10:20, 50:60] *= 5
    back = MLArray.open(p)
    np.testing.assert_array_equal(back.to_numpy(), expected)
    assert back.meta.stats.max == float(expected.max())  # stats refreshed after region writes
    assert os.path.getsize(p) < size_before * 1.5


def test_copy_on_write_leaves_file_untouched(tmp_path, ct):
    p = tmp_path / "c.mla"
    MLArray(ct).save(p)
    img = MLArray.open(p, mmap_mode="c")
    img[0:5] = 7
    assert (img[0:5] == 7).all()
    img.close()
    np.testing.assert_array_equal(MLArray.open(p).to_numpy(), ct)


def test_create_then_fill(tmp_path):
    p = tmp_path / "created.mla"
    arr = np.arange(300 * 20 * 10, dtype=np.float32).reshape(300, 20, 10)
    image = MLArray.create(p, shape=arr.shape, dtype=arr.dtype, mmap_mode="w+", spacing=(1, 2, 3))
    image[...] = arr
    image.close()
    back = MLArray.open(p)
    np.testing.assert_array_equal(back.to_numpy(), arr)
    assert back.spacing == [1.0, 2.0, 3.0]
    assert back.meta.stats.min == 0 and back.meta.stats.max == arr.max()
    assert len(back.levels) == 2  # 300 > 256 along axis 0 -> one extra level
    assert back.levels[1].shape == (150, 20, 10)


def test_pyramid_levels_are_lazy_and_correct(tmp_path):
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 1000, (600, 520), dtype=np.uint16)
    p = tmp_path / "pyr.mla"
    MLArray(arr, spacing=(0.5, 0.25)).save(p)
    img = MLArray.open(p)
    shapes = [lv.shape for lv in img.levels]
    assert shapes == [(600, 520), (300, 260), (150, 130)]
    assert img.levels[1]._array is None  # nothing decoded until sliced
    expected = arr.reshape(300, 2, 260, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(img.levels[1][:], expected, atol=0.5 + 1e-9)
    assert img.levels[2].scale == (4.0, 4.0)
    assert img.levels[1].dtype == arr.dtype


def test_chunks_give_the_stored_chunk_shape_of_the_base_and_of_each_level(tmp_path):
    arr = np.random.default_rng(3).integers(0, 1000, (600, 520), dtype=np.uint16)
    p = tmp_path / "pyr.mla"
    MLArray(arr).save(p)
    img = MLArray.open(p)
    assert img.chunks == tuple(open_base_frame(p).chunks)
    assert img.levels[0].chunk_shape() == img.chunks
    recorded = [tuple(e["chunk_size"]) for e in img.meta.to_mapping()["pyramid"]["levels"]]
    assert img.levels[1].chunks is None  # a level's frame is read on first use only
    assert [img.levels[k].chunk_shape() for k in (1, 2)] == recorded
    plain = MLArray(arr)
    plain.decompress()
    assert plain.chunks is None  # numpy holds no chunks
    assert MLArray().chunks is None


def test_segmentation_pyramid_has_only_labels(tmp_path):
    arr = np.zeros((520, 520), np.uint8)
    arr[100:300, 100:400] = 3
    arr[350:360, 10:20] = 7
    p = tmp_path / "seg.mla"
    MLArray(arr, meta=Meta(is_seg=True, classes={3: "liver", 7: "lesion"})).save(p)
    img = MLArray.open(p)
    assert img.meta.pyramid.method == "mode"
    assert set(np.unique(img.levels[1][:])) <= {0, 3, 7}
    assert img.meta.classes[0] == {"id": 3, "name": "liver"}


def test_small_images_get_no_pyramid_unless_asked(tmp_path):
    arr = np.ones((64, 64), np.float32)
    MLArray(arr).save(tmp_path / "a.mla")
    assert len(MLArray.open(tmp_path / "a.mla").levels) == 1
    MLArray(arr).save(tmp_path / "b.mla", pyramid=False)
    big = np.ones((600, 10), np.float32)
    MLArray(big).save(tmp_path / "c.mla", pyramid=False)
    assert len(MLArray.open(tmp_path / "c.mla").levels) == 1


def test_stats_written_for_contrast_limits(tmp_path, ct):
    p = tmp_path / "s.mla"
    MLArray(ct).save(p)
    st = MLArray.open(p).meta.stats
    assert st.min == ct.min() and st.max == ct.max()
    assert st.mean == pytest.approx(ct.mean())
    assert st.percentile(99.5) == pytest.approx(np.percentile(ct, 99.5))
    assert st.percentile(0.5) == pytest.approx(np.percentile(ct, 0.5))


def test_file_is_blosc2_frames_with_json_metadata(tmp_path, ct):
    p = tmp_path / "x.mla"
    MLArray(ct, spacing=(1, 2, 3)).save(p)
    assert p.read_bytes()[:8] == MAGIC
    raw = open_base_frame(p)
    np.testing.assert_array_equal(raw[...], ct)
    doc = json.loads(raw.vlmeta["mla.meta"])
    assert doc["format_version"] == 1
    assert doc["spatial"]["spacing"] == [1.0, 2.0, 3.0]
    assert raw.schunk.meta["mla"] == {"version": 1}


def test_metadata_only_file(tmp_path):
    p = tmp_path / "boxes.mla"
    MLArray(meta=Meta(bbox={"bboxes": [[[1, 5], [2, 9]]], "labels": ["nodule"], "scores": [0.7]},
                      extra={"target": 3.2})).save(p)
    img = MLArray.open(p)
    assert not img.meta.has_array
    assert img.meta.bbox.labels == ["nodule"]
    assert img.meta.extra == {"target": 3.2}
    with pytest.raises(MLArrayError, match="metadata only"):
        img[0]


def test_layout_from_patch_size_and_manual(tmp_path):
    arr = np.zeros((64, 128, 128), np.int16)
    MLArray(arr, patch_size=None, chunk_size=(1, 128, 128), block_size=(1, 32, 32)).save(tmp_path / "m.mla")
    m = MLArray.open(tmp_path / "m.mla")
    assert m.meta.blosc2.chunk_size == [1, 128, 128] and m.meta.blosc2.block_size == [1, 32, 32]
    MLArray(arr, patch_size=64).save(tmp_path / "p.mla")
    p = MLArray.open(tmp_path / "p.mla")
    assert p.meta.blosc2.patch_size == [64, 64, 64]
    # re-saving keeps the existing layout
    p2 = MLArray.load(tmp_path / "p.mla")
    p2.save(tmp_path / "p2.mla")
    assert MLArray.open(tmp_path / "p2.mla").meta.blosc2.patch_size == [64, 64, 64]


def test_mmap_image_pickles_as_its_path(tmp_path, ct):
    p = tmp_path / "pk.mla"
    MLArray(ct).save(p)
    img = MLArray.open(p)
    blob = pickle.dumps(img)
    assert len(blob) < 1000  # the path, not the data
    back = pickle.loads(blob)
    assert back.filepath == str(p)
    np.testing.assert_array_equal(back[3], ct[3])
    mem = pickle.loads(pickle.dumps(MLArray(ct[:2], spacing=(1, 1, 1))))
    np.testing.assert_array_equal(mem.to_numpy(), ct[:2])


def test_save_is_atomic_when_writing_fails(tmp_path, ct, monkeypatch):
    p = tmp_path / "keep.mla"
    MLArray(ct).save(p)
    before = p.read_bytes()

    class Exploding:
        shape, dtype, ndim = ct.shape, ct.dtype, 3

        def __getitem__(self, key):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        MLArray(Exploding()).save(p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["keep.mla"]  # no temp files left behind


def test_saving_over_own_source_keeps_reading(tmp_path, ct):
    p = tmp_path / "same.mla"
    MLArray(ct).save(p)
    img = MLArray.open(p)
    img.meta.extra["note"] = "edited"
    img.save(p)
    np.testing.assert_array_equal(img[5], ct[5])
    assert MLArray.open(p).meta.extra == {"note": "edited"}


def test_metadata_edit_does_not_touch_pixels(tmp_path, ct):
    p = tmp_path / "m.mla"
    MLArray(ct).save(p)
    raw = open_base_frame(p)  # keep the NDArray alive while using its schunk (blosc2 4.x)
    raw_before = raw.schunk.get_chunk(0)
    del raw
    img = MLArray.open(p, mmap_mode="r+")
    img.meta.source["x"] = "y" * 1000
    img.close()
    raw = open_base_frame(p)
    assert raw.schunk.get_chunk(0) == raw_before
    assert MLArray.open(p).meta.source["x"] == "y" * 1000


def test_invalid_metadata_rejected_on_the_way_in(ct):
    with pytest.raises(MetadataError, match="spatial.spacing"):
        MLArray(ct, spacing=(1, 1))
    with pytest.raises(MetadataError, match="spatial.spacing.*positive"):
        MLArray(ct, spacing=(1, -1, 1))
    with pytest.raises(MetadataError, match="NaN"):
        MLArray(ct, spacing=(1, float("nan"), 1))
    with pytest.raises(MLArrayError, match="cannot be set when loading"):
        MLArray("x.mla", spacing=(1, 1, 1))


def test_axis_labels_limit_spatial_fields(tmp_path):
    arr = np.zeros((3, 40, 50), np.float32)
    img = MLArray(arr, spacing=(0.5, 0.5), axis_labels=["channel", "spatial_y", "spatial_x"])
    assert img.spatial_axes == [1, 2]
    img.save(tmp_path / "c.mla")
    back = MLArray.open(tmp_path / "c.mla")
    assert back.axis_labels == ["channel", "spatial_y", "spatial_x"]
    assert np.asarray(back.affine).shape == (3, 3)  # nested lists, as the published package returns


def test_wrong_suffix_and_missing_file(tmp_path):
    with pytest.raises(MLArrayError, match=r"end in '\.mla'"):
        MLArray(np.zeros(3)).save(tmp_path / "x.npy")
    with pytest.raises(FileNotFoundError):
        MLArray.open(tmp_path / "missing.mla")


def test_not_an_mla_file(tmp_path):
    p = tmp_path / "junk.mla"
    p.write_bytes(b"hello world" * 10)
    with pytest.raises(CorruptFileError, match="junk.mla.*not an MLArray file"):
        MLArray.open(p)
    plain = tmp_path / "plain.mla"
    blosc2.asarray(np.zeros(10), urlpath=str(plain), mode="w")  # a b2nd frame without MLArray metadata
    with pytest.raises(CorruptFileError, match="carries no MLArray metadata"):
        MLArray.open(plain)


def test_newer_format_version_is_refused_clearly(tmp_path):
    p = tmp_path / "future.mla"
    blosc2.asarray(np.zeros(10), urlpath=str(p), mode="w", meta={"mla": {"version": 99}})
    with pytest.raises(CorruptFileError, match="format v99.*Upgrade mlarray"):
        MLArray.open(p)


def test_levels_are_frames_outside_vlmeta_so_open_loads_no_pixels(tmp_path):
    # Blosc2 reads all vlmeta into memory on open; levels must live elsewhere in the file.
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 60000, (1100, 1100), dtype=np.uint16)
    p = tmp_path / "big.mla"
    MLArray(arr).save(p)
    raw = open_base_frame(p)
    vlmeta_bytes = sum(len(v) for v in raw.vlmeta.getall().values())
    levels = MLArray.open(p).meta.pyramid.levels
    assert sum(lv["nbytes"] for lv in levels) > 500_000
    assert vlmeta_bytes < 50_000
    first = levels[0]
    lv1 = blosc2.open(str(p), offset=first["offset"])
    assert tuple(lv1.shape) == (550, 550)


def test_region_writes_rebuild_levels_atomically(tmp_path):
    arr = np.zeros((600, 40), np.float32)
    p = tmp_path / "r.mla"
    MLArray(arr).save(p)
    img = MLArray.open(p, mmap_mode="r+")
    img[0:300] = 8.0
    img.close()
    back = MLArray.open(p)
    assert back.levels[1][0:150].min() == 8.0 and back.levels[1][150:].max() == 0.0
    assert back.meta.stats.max == 8.0
    assert [f.name for f in tmp_path.iterdir()] == ["r.mla"]


def test_zero_length_axis_round_trips(tmp_path):
    MLArray(np.zeros((0, 5), np.float32), spacing=(1, 1)).save(tmp_path / "empty.mla")
    img = MLArray.open(tmp_path / "empty.mla")
    assert img.shape == (0, 5) and img.to_numpy().shape == (0, 5)
    assert img.meta.stats.count == 0 and img.meta.stats.min is None


def test_damaged_frame_layout_is_caught_against_the_metadata(tmp_path, ct):
    import json as _json

    p = tmp_path / "lay.mla"
    MLArray(ct).save(p)
    raw = blosc2.open(str(p), mode="a", offset=base_offset(str(p)))
    doc = _json.loads(raw.vlmeta["mla.meta"])
    del doc["checksum"]  # written back unsealed: consistent JSON whose values are wrong
    doc["blosc2"]["block_size"] = [b * 2 for b in doc["blosc2"]["block_size"]]
    raw.vlmeta["mla.meta"] = _json.dumps(doc)
    del raw
    with pytest.raises(CorruptFileError, match="header says blocks .* metadata recorded"):
        MLArray.open(p)


def test_level_outside_the_level_area_is_refused(tmp_path):
    import json as _json

    p = tmp_path / "lv.mla"
    MLArray(np.zeros((600, 8), np.uint8)).save(p)
    raw = blosc2.open(str(p), mode="a", offset=base_offset(str(p)))
    doc = _json.loads(raw.vlmeta["mla.meta"])
    del doc["checksum"]  # written back unsealed: consistent JSON whose values are wrong
    doc["pyramid"]["levels"][0]["nbytes"] = 10**9
    raw.vlmeta["mla.meta"] = _json.dumps(doc)
    del raw
    img = MLArray.open(p, verify=False)
    with pytest.raises(CorruptFileError, match="pyramid level 1 is said to lie at bytes"):
        img.levels[1][0]


def test_level_frame_layout_is_checked_against_the_metadata(tmp_path):
    import json as _json

    p = tmp_path / "lvlay.mla"
    MLArray(np.arange(600 * 40, dtype=np.float32).reshape(600, 40)).save(p)
    entry = MLArray.open(p).meta.pyramid.levels[0]
    assert entry["chunk_size"] and entry["block_size"]
    raw = blosc2.open(str(p), mode="a", offset=base_offset(str(p)))
    doc = _json.loads(raw.vlmeta["mla.meta"])
    del doc["checksum"]  # written back unsealed: consistent JSON whose values are wrong
    doc["pyramid"]["levels"][0]["block_size"] = [b + 1 for b in entry["block_size"]]
    raw.vlmeta["mla.meta"] = _json.dumps(doc)
    del raw
    img = MLArray.open(p, verify=False)
    with pytest.raises(CorruptFileError, match="pyramid level 1's frame header says blocks"):
        img.levels[1][0]


def test_write_metadata_replaces_the_metadata_atomically_and_keeps_the_voxels(tmp_path, ct):
    p = tmp_path / "ct.mla"
    MLArray(ct, spacing=[2.0, 1.0, 1.0]).save(p)
    before = MLArray.open(p)
    layout, writer = before.meta.blosc2.to_mapping(), before.meta.writer
    new = Meta(spatial={"spacing": [3.0, 0.5, 0.5]}, is_seg=False, extra={"reviewed": True})
    MLArray.write_metadata(p, new)
    after = MLArray.open(p, verify=True)
    assert after.spacing == [3.0, 0.5, 0.5] and after.meta.extra["reviewed"] is True
    assert after.meta.blosc2.to_mapping() == layout and after.meta.writer == writer  # managed fields stay
    np.testing.assert_array_equal(after.to_numpy(), ct)
    # metadata that does not fit the file is refused and the file keeps its metadata
    with pytest.raises(MetadataError):
        MLArray.write_metadata(p, Meta(spatial={"spacing": [1.0, 1.0]}))
    assert MLArray.open(p).spacing == [3.0, 0.5, 0.5]
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []  # no temporary left behind


def test_verify_checks_every_chunk_and_says_when_nothing_is_recorded(tmp_path):
    p = tmp_path / "a.mla"
    MLArray(np.arange(4096, dtype=np.float32).reshape(16, 16, 16), patch_size=8).save(p)
    img = MLArray.open(p, verify=False)
    assert img.verify() is True and img.format_version == 1
    with pytest.raises(MLArrayError, match="in memory"):
        MLArray.load(p).verify()
    with MLArray.open(p, mmap_mode="r+") as rw:  # a region write drops the checksums until close
        rw[0, 0, 0] = 7.0
        assert rw.verify() is False
    assert MLArray.open(p).verify() is True  # close() recorded new ones
    offset = base_offset(str(p))
    raw = bytearray(p.read_bytes())
    raw[offset + len(raw[offset:]) // 2] ^= 0xFF  # one flipped byte inside the compressed chunks
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError):
        MLArray.open(p, verify=False).verify()


def test_format_version_names_a_published_package_file():
    from pathlib import Path

    img = MLArray.open(Path(__file__).parent / "data" / "legacy" / "image3d.mla")
    assert img.format_version == 0 and img.verify() is False  # the published package recorded no checksums
