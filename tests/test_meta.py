"""Metadata model: validation on the way in, JSON round trips, errors that name field and remedy."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlarray import Meta, MetaBbox, MetadataError, MetaSpatial
from mlarray.meta import check_classes


def test_spatial_affine_is_derived_and_consistent():
    sp = MetaSpatial(spacing=[2.0, 1.0, 0.5], origin=[10, 20, 30], direction=np.eye(3)[:, [1, 0, 2]])
    aff = np.asarray(sp.affine)
    assert aff.shape == (4, 4)
    np.testing.assert_allclose(aff @ [1, 0, 0, 1], [10, 22, 30, 1])  # axis 0 runs along world y
    sp.spacing[0] = 4.0  # live list edit, as in the published API, keeps the affine in sync
    np.testing.assert_allclose(np.asarray(sp.affine) @ [1, 0, 0, 1], [10, 24, 30, 1])


def test_affine_only_is_decomposed():
    aff = np.diag([-0.8, -0.8, 2.5, 1.0])
    aff[:3, 3] = [100, 50, -20]
    sp = MetaSpatial(affine=aff)
    assert sp.spacing == pytest.approx([0.8, 0.8, 2.5])
    assert sp.origin == pytest.approx([100, 50, -20])
    np.testing.assert_allclose(sp.affine, aff)


def test_inconsistent_affine_is_rejected():
    with pytest.raises(MetadataError, match="spatial.affine.*disagrees"):
        MetaSpatial.from_mapping({"spacing": [1, 1], "origin": [0, 0], "direction": [[1, 0], [0, 1]],
                                  "affine": [[2, 0, 0], [0, 1, 0], [0, 0, 1]]})


@pytest.mark.parametrize("field,value,msg", [
    ("spacing", [1.0, float("nan"), 1.0], "NaN"),
    ("spacing", [1.0, -1.0, 1.0], "must be positive"),
    ("spacing", [1.0, 0.0, 1.0], "must be positive"),
    ("direction", [[1, 0], [0, 1], [0, 0]], "square"),
    ("origin", "abc", "list of numbers"),
])
def test_bad_spatial_values_name_the_field(field, value, msg):
    with pytest.raises(MetadataError) as err:
        MetaSpatial(**{field: value})
    assert f"spatial.{field}" in str(err.value)
    assert msg in str(err.value)


def test_lengths_are_checked_against_the_array():
    m = Meta(spatial={"spacing": [1, 1]})
    with pytest.raises(MetadataError, match="spatial.spacing.*3 values"):
        m.validate(ndim=3)
    # Non-spatial axes are excluded once labelled.
    m = Meta(spatial={"spacing": [1, 1], "axis_labels": ["channel", "spatial_y", "spatial_x"]})
    m.validate(ndim=3)


def test_boxes_validation():
    b = MetaBbox(bboxes=[[[0, 4], [1, 3.5]]], labels=["lesion"], scores=[0.9])
    assert b.bboxes == [[[0, 4], [1, 3.5]]]
    with pytest.raises(MetadataError, match=r"bbox.bboxes\[0\]\[1\].*min is greater"):
        MetaBbox(bboxes=[[[0, 4], [5, 3]]])
    with pytest.raises(MetadataError, match="bbox.labels.*one entry per box"):
        MetaBbox(bboxes=[[[0, 4], [1, 3]]], labels=["a", "b"])
    with pytest.raises(MetadataError, match=r"shape \[N\]\[ndim\]\[2\]"):
        MetaBbox(bboxes=[[0, 1, 2]])
    with pytest.raises(MetadataError, match="3 spatial axes"):
        Meta(bbox={"bboxes": [[[0, 1], [0, 1]]]}).validate(ndim=3)
    # a box without a score (drawn by hand among detector boxes) stores null, not a made-up number
    mixed = MetaBbox(bboxes=[[[0, 4], [1, 3]], [[1, 2], [0, 1]]], scores=[0.8, None])
    assert mixed.scores == [0.8, None] and MetaBbox.from_mapping(mixed.to_mapping()) == mixed
    with pytest.raises(MetadataError, match=r"bbox.scores\[1\].*NaN"):
        MetaBbox(bboxes=[[[0, 4], [1, 3]], [[1, 2], [0, 1]]], scores=[0.8, float("nan")])


def test_non_json_metadata_is_rejected():
    with pytest.raises(MetadataError, match="source.when.*not JSON"):
        Meta(source={"when": object()})
    with pytest.raises(MetadataError, match="non-string key"):
        Meta(extra={1: "a"})
    # numpy values are converted rather than refused
    m = Meta(source={"dim": np.array([1, 2]), "f": np.float32(1.5)})
    assert m.source == {"dim": [1, 2], "f": 1.5}


def test_unknown_fields_point_to_extra():
    with pytest.raises(MetadataError, match="meta.patient.*put custom data in `extra`"):
        Meta.from_mapping({"patient": "x"})


def test_class_table_normalisation():
    classes = check_classes({2: "tumour", 1: {"name": "liver", "color": "#ff0000"}})
    assert classes == [{"id": 1, "name": "liver", "color": [1.0, 0.0, 0.0, 1.0]}, {"id": 2, "name": "tumour"}]
    assert check_classes([{"id": 3, "name": "x", "color": [0, 128, 255]}])[0]["color"] == pytest.approx(
        [0, 128 / 255, 1, 1], abs=1e-6)
    with pytest.raises(MetadataError, match=r"classes\[1\].id.*appears twice"):
        check_classes([{"id": 1, "name": "a"}, {"id": 1, "name": "b"}])


def test_published_usage_meta_dict_is_source():
    from mlarray import MLArray

    img = MLArray(np.zeros((2, 3, 4)), meta={"patient_id": "123"})
    assert img.meta.source == {"patient_id": "123"}
    img.meta.source["study_id"] = "s"
    assert img.meta.to_mapping()["source"] == {"patient_id": "123", "study_id": "s"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(
    spacing=st.lists(st.floats(0.01, 100), min_size=3, max_size=3),
    origin=st.lists(st.floats(-1e4, 1e4), min_size=3, max_size=3),
    perm=st.permutations([0, 1, 2]),
    signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=3, max_size=3),
    source=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    is_seg=st.none() | st.booleans(),
)
def test_mapping_round_trip(spacing, origin, perm, signs, source, is_seg):
    direction = np.eye(3)[:, perm] * np.asarray(signs)
    m = Meta(spatial={"spacing": spacing, "origin": origin, "direction": direction, "coord_system": "LPS"},
             source=source, is_seg=is_seg, bbox={"bboxes": [[[0, 1], [2, 3], [4, 5]]], "labels": [1]})
    text = json.dumps(m.to_mapping(), allow_nan=False)
    back = Meta.from_mapping(json.loads(text))
    assert back == m
    np.testing.assert_allclose(back.spatial.affine, m.spatial.affine)


def test_errors_survive_pickling_between_processes():
    import pickle

    from mlarray import CorruptFileError
    from mlarray.convert import ConversionError

    for exc in (MetadataError("spatial.spacing", [1, -1], "must be positive", "use > 0"),
                CorruptFileError("/x.mla", "is truncated"), ConversionError("/a.nii", "bad", "fix it")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)


def test_validate_stays_the_function_after_submodule_imports():
    import importlib

    import mlarray

    importlib.import_module("mlarray.cli")  # imports the validation module
    assert callable(mlarray.validate) and mlarray.validate.__name__ == "validate"
