"""Invalid constructor / metadata inputs: each gives an MLArrayError whose message says what is wrong."""

import numpy as np
import pytest

from mlarray import Meta, MetadataError, MLArray, MLArrayError

A3 = np.zeros((4, 5, 6), np.float32)

CASES = [
    # (id, callable, expected fragment)
    ("spacing-negative", lambda: MLArray(A3, spacing=(1, -1, 1)), "spacing"),
    ("spacing-zero", lambda: MLArray(A3, spacing=(0, 1, 1)), "spacing"),
    ("spacing-nan", lambda: MLArray(A3, spacing=(np.nan, 1, 1)), "spacing"),
    ("spacing-wrong-length", lambda: MLArray(A3, spacing=(1, 1)), "spacing"),
    ("spacing-string", lambda: MLArray(A3, spacing="1,1,1"), "spacing"),
    ("origin-wrong-length", lambda: MLArray(A3, origin=(0, 0)), "origin"),
    ("origin-inf", lambda: MLArray(A3, origin=(0, np.inf, 0)), "origin"),
    ("direction-nan", lambda: MLArray(A3, direction=[[1, 0, 0], [0, np.nan, 0], [0, 0, 1]]), "direction"),
    ("direction-wrong-shape", lambda: MLArray(A3, direction=[[1, 0], [0, 1]]), "direction"),
    # A sheared affine or non-orthonormal direction is a valid general affine (kept, reported by validate());
    # an axis without extent is not.
    ("affine-zero-column", lambda: MLArray(A3, affine=[[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),
     "affine"),
    ("affine-wrong-shape", lambda: MLArray(A3, affine=np.eye(3)), "must have 3 values"),  # names spacing
    ("meta-wrong-type", lambda: MLArray(A3, meta=[1, 2]), "meta"),
    ("axis-labels-wrong-length", lambda: MLArray(A3, axis_labels=["spatial_x"]), "axis_labels"),
    ("extra-not-dict", lambda: Meta(extra=[1]), "extra"),
    # NaN inside extra/source is kept (stored as {"$float": "NaN"}); in typed fields it is refused.
    ("stats-nan", lambda: Meta(stats={"mean": float("nan")}), "NaN"),
    ("extra-non-json", lambda: Meta(extra={"v": object()}), "extra"),
    ("source-not-dict", lambda: Meta(source="x"), "source"),
    ("is-seg-string", lambda: Meta(is_seg="yes"), "is_seg"),
    ("has-array-string", lambda: Meta(has_array="yes"), "has_array"),
    ("writer-list", lambda: Meta(writer=["x"]), "writer"),
    ("format-version-str", lambda: Meta(format_version="1"), "format_version"),
    ("source-format-int", lambda: Meta(source_format=3), "source_format"),
    ("unknown-top-key", lambda: Meta.from_mapping({"format_version": 1, "spacing": [1]}), "not a field"),
    ("pyramid-levels-int", lambda: Meta.from_mapping({"pyramid": {"levels": 3}}), "pyramid.levels"),
    ("pyramid-method", lambda: Meta.from_mapping({"pyramid": {"levels": [], "method": "cubic"}}), "pyramid.method"),
    ("bbox-wrong-nesting", lambda: Meta(bbox={"bboxes": [1, 2]}), "bbox"),
    ("stats-min-dict", lambda: Meta.from_mapping({"stats": {"min": {}}}), "stats.min"),
    ("blosc2-chunk-str", lambda: Meta.from_mapping({"blosc2": {"chunk_size": "64"}}), "blosc2.chunk_size"),
    ("deep-nesting", lambda: Meta(extra=eval("{'a':" * 70 + "1" + "}" * 70)), "extra"),
    ("load-with-spacing", lambda: MLArray("x.mla", spacing=(1, 1, 1)), "cannot be set when loading"),
    ("wrong-suffix", lambda: MLArray(A3).save("out.npy"), "end in '.mla'"),
    ("open-bad-mode", lambda: MLArray.open("x.mla", mode="w"), "mode='w'"),
    ("open-bad-mmap", lambda: MLArray.open("x.mla", mmap_mode="w"), "mmap_mode='w'"),
    ("create-bad-mmap", lambda: MLArray.create("x.mla", (2, 2), np.uint8, mmap_mode="r"), "mmap_mode='w+'"),
    ("metadata-only-slicing", lambda: MLArray(meta=Meta(extra={"a": 1}))[0], "metadata only"),
]


@pytest.mark.parametrize("make,fragment", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_message(make, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MLArrayError) as exc:
        make()
    assert fragment in str(exc.value), str(exc.value)
    if isinstance(exc.value, MetadataError):
        assert exc.value.field and "got" in str(exc.value)
