"""Write the legacy (pickle-metadata) fixtures in ``tests/data/legacy/``.

Files written by the published ``mlarray`` 0.0.x package keep their metadata as
``gzip.compress(pickle.dumps(meta.to_mapping()))`` in the Blosc2 ``vlmeta["mlarray"]``.
The tests in ``tests/test_legacy.py`` read these fixtures, so they must come from the
published package itself, not from a re-implementation of it.

Two steps, each with its own interpreter:

1. ``legacy`` -- needs the PUBLISHED package. Its import name ``mlarray`` clashes with
   this repository's, so use a throwaway venv and never install it globally::

       python -m venv /tmp/legacyvenv
       /tmp/legacyvenv/bin/pip install mlarray==0.0.54
       /tmp/legacyvenv/bin/python scripts/make_legacy_fixtures.py legacy

   Writes image3d.mla, seg.mla, image2d_channels.mla, metaonly.mla and expected.json
   (what the published package's own API says each file holds).

2. ``malicious`` -- any Python with blosc2 (e.g. the global one)::

       python scripts/make_legacy_fixtures.py malicious

   Writes malicious.mla: a valid b2nd file whose ``vlmeta["mlarray"]`` is a gzip'd pickle
   that, if unpickled freely, runs ``os.system`` to create MALICIOUS_MARKER.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "legacy"
PUBLISHED_VERSION = "0.0.54"
# Absolute so the test can check it no matter the working directory. The test removes it
# before reading and asserts it is still absent afterwards.
MALICIOUS_MARKER = "/tmp/mlarray_legacy_pwned_marker"


def _jsonable(value):
    """Plain JSON types (enums -> their value, numpy scalars -> Python numbers)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(o):
    import enum

    import numpy as np

    if isinstance(o, enum.Enum):
        return o.value
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _record(path: Path, *, read_array: bool = True) -> dict:
    """What the published package says the file holds, via its public API."""
    import blosc2

    from mlarray import MLArray

    store = blosc2.open(str(path))  # a plain b2nd container our blosc2 can open
    raw = store.schunk.vlmeta["mlarray"]
    m = MLArray.open(str(path))
    meta = m.meta
    rec = {
        "file": path.name,
        # The mapping exactly as pickled, decoded with the published classes importable. The
        # file was written a moment ago by this script, so it is trusted.
        "pickled_mapping": _jsonable(pickle.loads(gzip.decompress(raw))),  # allow: own fixture
        # What the package's Meta holds after MLArray.open (its re-validated view).
        "reread_mapping": _jsonable(meta.to_mapping()),
        "source": _jsonable(meta.source.to_plain()),
        "extra": _jsonable(meta.extra.to_plain()),
        "is_seg": meta.is_seg.to_plain(include_none=True),
        "has_array": bool(meta._has_array.has_array),
        "image_meta_format": meta._image_meta_format.to_plain(include_none=True),
        "mlarray_version": _jsonable(meta._mlarray_version),
        "spatial": _jsonable(meta.spatial.to_plain()),
        "stats": _jsonable(meta.stats.to_plain()),
        "bbox": _jsonable(meta.bbox.to_plain()),
        "blosc2": {k: _jsonable(getattr(meta.blosc2, k)) for k in ("chunk_size", "block_size", "patch_size")},
    }
    if read_array and rec["has_array"]:
        arr = m.to_numpy()
        rec["array"] = {
            "shape": list(arr.shape),
            "dtype": str(arr.dtype),
            "sha256": hashlib.sha256(arr.tobytes(order="C")).hexdigest(),
        }
        rec["spacing"] = _jsonable(m.spacing)
        rec["origin"] = _jsonable(m.origin)
        rec["direction"] = _jsonable(m.direction)
    return rec


def make_legacy() -> None:
    import numpy as np

    import mlarray
    from mlarray import MLArray
    from mlarray.meta import AxisLabelEnum, CoordSystemEnum, Meta

    if not hasattr(sys.modules["mlarray.meta"], "_FrozenList") or mlarray.__version__ != PUBLISHED_VERSION:
        sys.exit(f"run this step with the published mlarray=={PUBLISHED_VERSION} (got {mlarray.__file__})")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    expected = {"published_version": mlarray.__version__, "malicious_marker": MALICIOUS_MARKER, "fixtures": {}}

    # (a) 3D float32 image with geometry, source, extra and statistics. Smooth data keeps it tiny.
    z, y, x = np.meshgrid(np.arange(8), np.arange(16), np.arange(16), indexing="ij")
    img = (z * 100.0 + y * 3.0 - x * 0.5).astype(np.float32)
    direction = [[1.0, 0.0, 0.0], [0.0, 0.6, -0.8], [0.0, 0.8, 0.6]]
    a = MLArray(img, spacing=[2.5, 0.8, 0.8], origin=[10.0, -20.0, 5], direction=direction,
                meta={"patient_id": "123", "modality": "CT"}, patch_size=None, chunk_size=[8, 16, 16],
                block_size=[4, 16, 16])
    a.meta.extra = {"note": "legacy fixture", "nested": {"k": [1, 2, 3]}}
    a.meta.spatial.coord_system = CoordSystemEnum.LPS
    a.meta.spatial.axis_units = ["mm", "mm", "mm"]
    # np.float64 passes the package's float checks and json.dumps, so real files can hold
    # pickled numpy scalars; keep one here on purpose (mean).
    a.meta.stats = {
        "min": float(img.min()), "max": float(img.max()), "mean": np.float64(img.mean()),
        "median": float(np.median(img)), "std": float(img.std()),
        "percentile_min": float(np.percentile(img, 0.5)), "percentile_max": float(np.percentile(img, 99.5)),
        "percentile_min_key": 0.005, "percentile_max_key": 0.995,
    }
    a.meta.is_seg = False
    a.save(str(OUT_DIR / "image3d.mla"))

    # (b) uint8 segmentation with boxes, labels and scores.
    seg = np.zeros((8, 16, 16), dtype=np.uint8)
    seg[2:5, 3:9, 4:10] = 1
    seg[5:7, 10:14, 1:5] = 2
    meta_b = Meta(source={"task": "organ", "labels": {"0": "background", "1": "liver", "2": "tumor"}},
                  is_seg=True,
                  bbox={"bboxes": [[[2, 5], [3, 9], [4, 10]], [[5, 7], [10, 14], [1, 5]]],
                        "labels": ["liver", "tumor"], "scores": [0.9, 0.75]})
    b = MLArray(seg, spacing=[1.0, 1.0, 1.0], meta=meta_b)
    b.save(str(OUT_DIR / "seg.mla"))

    # (c) 2D image with a channel axis; the enum in source is pickled as mlarray.meta.AxisLabelEnum.
    rgb = np.stack([np.full((16, 16), v, dtype=np.uint8) for v in (10, 128, 250)])
    c = MLArray(rgb, spacing=[0.5, 0.25], origin=[0.0, 0.0],
                axis_labels=[AxisLabelEnum.channel, AxisLabelEnum.spatial_y, AxisLabelEnum.spatial_x],
                meta={"camera": "rgb", "channel_role": AxisLabelEnum.channel})
    c.save(str(OUT_DIR / "image2d_channels.mla"))

    # (d) metadata only, no array.
    d = MLArray(meta={"study": "no pixels", "n": 3})
    d.meta.extra = {"kind": "header-only"}
    d.save(str(OUT_DIR / "metaonly.mla"))

    for name in ("image3d.mla", "seg.mla", "image2d_channels.mla", "metaonly.mla"):
        expected["fixtures"][name] = _record(OUT_DIR / name)

    (OUT_DIR / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    for p in sorted(OUT_DIR.iterdir()):
        print(f"{p.stat().st_size:7d}  {p}")


class _Exploit:
    """Pickles as ``os.system(<command>)``; only ever unpickled by a safe loader in tests."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def make_malicious() -> None:
    import blosc2
    import numpy as np

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "malicious.mla"
    if path.exists():
        path.unlink()
    # Hidden in an otherwise normal-looking legacy mapping.
    mapping = {
        "source": {"data": {"patient_id": _Exploit(f"touch {MALICIOUS_MARKER}")}},
        "extra": {"data": {}},
        "_has_array": {"has_array": True},
        "_mlarray_version": "v0",
    }
    payload = gzip.compress(pickle.dumps(mapping, protocol=pickle.HIGHEST_PROTOCOL))
    store = blosc2.asarray(np.zeros((2, 2), dtype=np.uint8), urlpath=str(path), mode="w")
    store.schunk.vlmeta["mlarray"] = payload
    del store
    print(f"{path.stat().st_size:7d}  {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["legacy", "malicious"])
    args = ap.parse_args()
    make_legacy() if args.step == "legacy" else make_malicious()


if __name__ == "__main__":
    main()
