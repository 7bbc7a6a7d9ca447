"""docs/schema.json is generated from the code and every written document validates against it."""

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from mlarray import Meta, MLArray
from mlarray._metadata.schema import json_schema

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_published_schema_matches_code():
    assert json.loads((DOCS / "schema.json").read_text(encoding="utf-8")) == json_schema(), (
        "docs/schema.json is stale: regenerate it with "
        "python -c \"import json; from mlarray._metadata.schema import json_schema; "
        "print(json.dumps(json_schema(), indent=2))\" > docs/schema.json")


def test_spec_mentions_every_top_level_field():
    spec = (DOCS / "spec.md").read_text(encoding="utf-8")
    for key in json_schema()["properties"]:
        assert f"`{key}`" in spec, f"docs/spec.md does not document `{key}`"


def test_written_documents_validate(tmp_path):
    arr = np.zeros((300, 20, 3), np.uint8)
    arr[10:20, 5:9, 1] = 2
    m = Meta(is_seg=True, classes={2: {"name": "lesion", "color": "#00ff00"}}, source={"a": [1, {"b": None}]},
             source_format="nifti1", extra={"x": 1},
             bbox={"bboxes": [[[10, 20], [5, 9]]], "labels": ["lesion"], "scores": [0.5]},
             spatial={"spacing": [1, 2], "axis_labels": ["spatial_z", "spatial_y", "channel"],
                      "coord_system": "LPS", "axis_units": ["mm", "mm"]})
    p = tmp_path / "x.mla"
    MLArray(arr, meta=m).save(p)
    doc = MLArray.open(p).meta.to_mapping()
    jsonschema.validate(doc, json_schema())
    assert doc["pyramid"]["levels"]


def test_schema_rejects_wrong_types():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"format_version": 1, "is_seg": "yes"}, json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"format_version": 1, "spatial": {"spacing": "1,1"}}, json_schema())
