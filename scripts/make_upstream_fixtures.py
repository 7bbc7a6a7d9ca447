"""Write ``tests/data/upstream/``: files made by the PUBLISHED ``mlarray`` package, as its users make them.

Run with the published package (and MedVol, its converter's reader) in a throwaway venv, never in
the project's environment (its import name ``mlarray`` clashes with this repository's)::

    python -m venv /tmp/upstream
    /tmp/upstream/bin/pip install mlarray==0.0.54 medvol
    /tmp/upstream/bin/python scripts/make_upstream_fixtures.py

Each file is one kind of published-package output that this library must open (issue 13):
its NIfTI and NRRD conversions (nibabel reports an unset NIfTI ``scl_slope`` as NaN, which lands in
``source``), a non-orthonormal direction (the published examples write [[1,2,3],[4,5,6],[7,8,9]]),
a sheared affine, a non-spatial 6-D array with 5 ``axis_units`` (as its usage docs show),
metadata only, and a file made with ``create()`` then filled. ``expected.json`` records what the
published package's own API says each file holds (NaN as the string "NaN").
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "upstream"
PUBLISHED_VERSION = "0.0.54"


def _jsonable(value):
    import enum

    import numpy as np

    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _record(path: Path) -> dict:
    from mlarray import MLArray

    img = MLArray(str(path))
    meta = img.meta
    rec = {
        "file": path.name,
        "has_array": bool(meta._has_array.has_array),
        "plain": _jsonable(meta.to_plain(include_none=True)),
    }
    if rec["has_array"]:
        arr = img.to_numpy()
        rec["array"] = {"shape": list(arr.shape), "dtype": str(arr.dtype),
                        "sha256": hashlib.sha256(arr.tobytes(order="C")).hexdigest()}
        rec["affine"] = _jsonable(img.affine)
    return rec


def main() -> None:
    import nibabel as nib
    import nrrd
    import numpy as np

    import mlarray
    from mlarray import Meta, MLArray
    from mlarray.cli import convert_to_mlarray

    if mlarray.__version__ != PUBLISHED_VERSION or "site-packages" not in mlarray.__file__:
        sys.exit(f"run this with the published mlarray=={PUBLISHED_VERSION} (got {mlarray.__file__})")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    vol = (np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8) % 50) * 3

    with tempfile.TemporaryDirectory() as tmp:
        # NIfTI written by nibabel without scaling: nibabel reports scl_slope/scl_inter as NaN.
        aff = np.array([[-0.9, 0, 0, 90.0], [0, 0.8, 0, -110.0], [0, 0, 2.5, -60.0], [0, 0, 0, 1]])
        nib.save(nib.Nifti1Image(vol, aff), f"{tmp}/ct.nii.gz")
        convert_to_mlarray(f"{tmp}/ct.nii.gz", str(OUT_DIR / "converted_nifti.mla"))
        # NRRD in LPS space, as ITK and 3D Slicer write it.
        nrrd.write(f"{tmp}/ct.nrrd", vol, {"space": "left-posterior-superior", "space directions":
                                           np.diag([0.7, 0.7, 3.0]), "space origin": np.array([-10.0, 20.0, 5.0])})
        convert_to_mlarray(f"{tmp}/ct.nrrd", str(OUT_DIR / "converted_nrrd.mla"))

    small = np.linspace(0, 1, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    MLArray(small, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
            direction=[[1, 2, 3], [4, 5, 6], [7, 8, 9]]).save(str(OUT_DIR / "nonorthonormal_direction.mla"))
    MLArray(small, affine=[[1.0, 0.5, 0.0, 10.0], [0.0, 1.0, 0.0, 20.0], [0.0, 0.0, 2.0, 30.0], [0, 0, 0, 1]],
            meta=Meta(spatial={"coord_system": "RAS+"})).save(str(OUT_DIR / "sheared_affine.mla"))

    # The published usage docs' non-spatial example: (time, z, y, x, channels, custom), 5 units for 6 axes.
    six = np.linspace(0, 1, 2 * 6 * 4 * 4 * 3 * 2, dtype=np.float32).reshape(2, 6, 4, 4, 3, 2)
    img = MLArray(six, spacing=(2.5, 0.7, 0.7), origin=(0.0, 0.0, 0.0), patch_size=None,
                  axis_labels=["temporal", "spatial_z", "spatial_y", "spatial_x", "channel", "some-other-type"])
    img.meta.spatial.axis_units = ["s", "mm", "mm", "mm", ""]
    img.save(str(OUT_DIR / "nonspatial_6d.mla"))

    MLArray(meta=Meta(source={"study": "boxes only"}, bbox={"bboxes": [[[1, 3], [2, 5], [0, 4]]],
                                                              "labels": ["nodule"], "scores": [0.8]})
            ).save(str(OUT_DIR / "metadata_only.mla"))

    created = MLArray.create(str(OUT_DIR / "created_filled.mla"), shape=(4, 8, 8), dtype=np.uint8,
                             meta={"made_by": "create"}, patch_size=None, chunk_size=(2, 8, 8), block_size=(1, 4, 4))
    created[...] = (np.arange(4 * 8 * 8) % 7).astype(np.uint8).reshape(4, 8, 8)
    created.close()

    names = sorted(p.name for p in OUT_DIR.glob("*.mla"))
    expected = {"published_version": mlarray.__version__, "fixtures": {n: _record(OUT_DIR / n) for n in names}}
    (OUT_DIR / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    for p in sorted(OUT_DIR.iterdir()):
        print(f"{p.stat().st_size:7d}  {p}")


if __name__ == "__main__":
    main()
