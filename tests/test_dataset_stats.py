"""Dataset-level statistics: exact/bounded percentile merging, spacing, classes, parallel = serial."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlarray import Meta, MLArray
from mlarray.dataset_stats import dataset_stats, format_report

PCTS = (0.5, 1, 5, 25, 50, 75, 95, 99, 99.5)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    d = tmp_path_factory.mktemp("ds")
    rng = np.random.default_rng(1)
    ints, floats, labels = [], [], []
    for i in range(4):
        shape = (10 + i, 20, 30)
        a = rng.integers(-1000 + 100 * i, 2000, size=shape).astype(np.int16)
        MLArray(a, spacing=[2.0 + (i % 2), 0.7, 0.7]).save(d / "ct" / f"ct{i}.mla") if (d / "ct").is_dir() else \
            ((d / "ct").mkdir(), MLArray(a, spacing=[2.0 + (i % 2), 0.7, 0.7]).save(d / "ct" / f"ct{i}.mla"))
        ints.append(a)
        f = (rng.gamma(2.0 + i, 50.0, size=shape)).astype(np.float32)
        (d / "mr").mkdir(exist_ok=True)
        MLArray(f, spacing=[1.0, 1.0, 1.0]).save(d / "mr" / f"mr{i}.mla")
        floats.append(f)
        lab = np.zeros(shape, np.uint8)
        lab[:3] = 1
        if i % 2:
            lab[5, 5, 5] = 4
        (d / "seg").mkdir(exist_ok=True)
        MLArray(lab, meta=Meta(is_seg=True, classes=[{"id": 1, "name": "liver"}, {"id": 4, "name": "tumour"}]),
                spacing=[2.0 + (i % 2), 0.7, 0.7]).save(d / "seg" / f"seg{i}.mla")
        labels.append(lab)
    return d, ints, floats, labels


def test_integer_percentiles_are_exact(ds):
    d, ints, _, _ = ds
    r = dataset_stats(d / "ct", jobs=2)
    allv = np.concatenate([a.ravel() for a in ints])
    it = r["intensity"]
    assert it["exact"] is True and it["percentile_error"] == 0.0
    for p in PCTS:
        # one percentile kernel for files and datasets: numpy's 'linear' method, bit for bit
        assert it["percentiles"][format(p, "g")] == float(np.percentile(allv, p))
    assert it["min"] == allv.min() and it["max"] == allv.max() and it["count"] == allv.size
    assert it["mean"] == pytest.approx(allv.mean(), rel=1e-9)
    assert it["std"] == pytest.approx(allv.std(), rel=1e-6)


def test_a_one_file_dataset_has_the_files_own_stored_percentiles(ds):
    d, _, _, _ = ds
    one = sorted((d / "ct").glob("*.mla"))[0]
    stored = MLArray.open(one).meta.stats
    it = dataset_stats([one])["intensity"]
    for p in PCTS:
        if p != 50:
            assert it["percentiles"][format(p, "g")] == stored.percentile(p)


def test_float_percentiles_within_the_reported_bound(ds):
    d, _, floats, _ = ds
    r = dataset_stats(d / "mr", jobs=1)
    it = r["intensity"]
    allv = np.concatenate([a.ravel() for a in floats]).astype(np.float64)
    assert it["exact"] is False and it["percentile_error"] == pytest.approx((allv.max() - allv.min()) / 2**16)
    for p in PCTS:
        assert abs(it["percentiles"][format(p, "g")] - np.percentile(allv, p)) <= it["percentile_error"]


def test_stored_method_reads_no_pixels_and_is_close(ds, monkeypatch):
    d, _, floats, _ = ds
    import mlarray.dataset_stats as m

    monkeypatch.setattr(m, "_histogram_task", lambda *a: pytest.fail("the fast method must not read pixels"))
    r = dataset_stats(d / "mr", method="stored")
    allv = np.concatenate([a.ravel() for a in floats]).astype(np.float64)
    it = r["intensity"]
    assert it["exact"] is False and it["method"] == "stored"
    # The documented bound: the merged p-th percentile lies between the lowest stored knot at or
    # below p and the highest stored knot at or above p over all files -- and so does the estimate.
    knots = []
    for f in sorted((d / "mr").glob("*.mla")):
        st = MLArray.open(f).meta.stats
        knots.append({0.0: st.min, 100.0: st.max, 50.0: st.median,
                      **{float(k): v for k, v in st.percentiles.items()}})
    spread = np.percentile(allv, 99.5) - np.percentile(allv, 0.5)
    for p in PCTS:
        lo = min(k[max(q for q in k if q <= p)] for k in knots)
        hi = max(k[min(q for q in k if q >= p)] for k in knots)
        est, true = it["percentiles"][format(p, "g")], np.percentile(allv, p)
        assert lo <= true <= hi and lo - 1e-9 <= est <= hi + 1e-9
        assert abs(est - true) < 0.05 * spread  # and in practice close


def test_spacing_shapes_and_classes(ds):
    d, _, _, labels = ds
    r = dataset_stats([d / "ct", d / "seg"], jobs=2)
    assert r["files"] == 8 and r["images"] == 4 and r["segmentations"] == 4
    assert r["spacing"]["median"] == pytest.approx([2.5, 0.7, 0.7])
    assert r["spacing"]["min"][0] == 2.0 and r["spacing"]["max"][0] == 3.0
    assert {tuple(c["spacing"]) for c in r["spacing"]["most_common"]} == {(2.0, 0.7, 0.7), (3.0, 0.7, 0.7)}
    assert r["shape"]["max"] == [13, 20, 30]
    total = sum(lab.size for lab in labels)
    c = r["classes"]
    assert set(c) == {"0", "1", "4"}
    assert c["1"]["voxels"] == sum(int((lab == 1).sum()) for lab in labels) and c["1"]["files"] == 4
    assert c["4"] == {"name": "tumour", "voxels": 2, "fraction": 2 / total, "files": 2}
    assert "tumour" in format_report(r)


def test_parallel_equals_serial_and_failures_are_collected(ds, tmp_path):
    d, _, _, _ = ds
    serial = dataset_stats(d, jobs=1)
    parallel = dataset_stats(d, jobs=2)
    assert json.dumps(serial, sort_keys=True) == json.dumps(parallel, sort_keys=True)
    bad = tmp_path / "bad.mla"
    bad.write_bytes(b"\x00" * 64)
    MLArray(np.ones((4, 4, 4), np.int16)).save(tmp_path / "good.mla")
    r = dataset_stats(tmp_path, jobs=2)
    assert list(r["failed"]) == [str(bad)] and r["images"] == 1


def test_cli_stats(ds, capsys):
    from mlarray.cli import main

    d, ints, _, _ = ds
    assert main(["stats", str(d / "ct"), "--jobs", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    allv = np.concatenate([a.ravel() for a in ints])
    assert r["intensity"]["percentiles"]["99.5"] == pytest.approx(np.percentile(allv, 99.5))
    assert main(["stats", str(d / "seg")]) == 0
    assert "class 4" in capsys.readouterr().out
    assert main(["stats", str(d / "missing")]) == 2


def test_stats_over_mm_and_um_files_says_the_units_are_mixed(tmp_path, capsys):
    """A CT in mm and a z-stack in µm in one folder: the pooled spacing median means nothing, and the user is told."""
    from mlarray.cli import main

    arr = np.zeros((4, 5, 6), np.uint8)
    MLArray(arr, spacing=(2.0, 0.7, 0.7), meta=Meta(spatial={"axis_units": ["mm"] * 3})).save(tmp_path / "ct.mla")
    MLArray(arr, spacing=(0.5, 0.1, 0.1), meta=Meta(spatial={"axis_units": ["µm"] * 3})).save(tmp_path / "cells.mla")
    with pytest.warns(UserWarning, match="different units"):
        r = dataset_stats(tmp_path)
    assert r["spacing_units"] == {"mixed": [["mm", "mm", "mm"], ["µm", "µm", "µm"]]}
    assert main(["stats", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "spacing units  MIXED" in out.out and "different units" in out.err
    (tmp_path / "cells.mla").unlink()
    assert dataset_stats(tmp_path)["spacing_units"] == ["mm", "mm", "mm"]



# ----------------------------------------------------------------------------- foreground statistics (nnU-Net)

NNUNET_FIELDS = {"mean", "median", "std", "min", "max", "percentile_00_5", "percentile_99_5"}


def _fg_dataset(d, dtype=np.int16):
    """nnU-Net-style names: imagesTr/case_0000.mla (2-channel-free CT) and labelsTr/case.mla."""
    rng = np.random.default_rng(4)
    (d / "imagesTr").mkdir()
    (d / "labelsTr").mkdir()
    images, labels = [], []
    for i in range(3):
        shape = (12 + i, 40, 36)
        lab = np.zeros(shape, np.uint8)
        lab[3:9, 10:25, 8 + i:20] = 1
        lab[5:7, 12:16, 10:14] = 2
        img = rng.normal(-300, 200, shape) + 350 * (lab > 0) + 40 * (lab == 2)
        img = img.astype(dtype)
        MLArray(img, spacing=(2.5, 0.8, 0.8)).save(d / "imagesTr" / f"case{i:03d}_0000.mla")
        MLArray(lab, meta=Meta(is_seg=True), spacing=(2.5, 0.8, 0.8)).save(d / "labelsTr" / f"case{i:03d}.mla")
        images.append(img)
        labels.append(lab)
    return images, labels


def _stats_json(argv, capsys) -> dict:
    from mlarray.cli import main

    assert main(["stats", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_stats_foreground_matches_numpy_over_every_foreground_voxel(tmp_path, capsys, dtype):
    images, labels = _fg_dataset(tmp_path, dtype)
    report = _stats_json([str(tmp_path / "imagesTr"), "--foreground", str(tmp_path / "labelsTr"), "-j", "2"], capsys)
    fg = report["foreground_intensity_properties_per_channel"]
    assert list(fg) == ["0"] and NNUNET_FIELDS <= set(fg["0"])
    values = np.concatenate([img[lab > 0].astype(np.float64) for img, lab in zip(images, labels)])
    ch = fg["0"]
    assert ch["count"] == len(values)
    assert np.isclose(ch["mean"], values.mean()) and np.isclose(ch["std"], values.std())
    assert ch["min"] == values.min() and ch["max"] == values.max()
    tol = 0 if dtype == np.int16 else (values.max() - values.min()) / 2**16
    for key, p in (("median", 50), ("percentile_00_5", 0.5), ("percentile_99_5", 99.5)):
        assert abs(ch[key] - np.percentile(values, p)) <= tol + 1e-9, key
    # the whole-image statistics are still there, and differ: the background is far darker
    assert report["intensity"]["mean"] < ch["mean"] - 100


def test_stats_foreground_equals_nnunets_fingerprint_per_case(tmp_path, capsys):
    """nnU-Net's fingerprint extractor on the same case (read by nnU-Net through MLArrayIO): its per-case
    foreground figures are exact, so for one case they are ours; its dataset figures are drawn from 10,000
    voxels per case, and ours (every voxel) must agree with them within sampling error."""
    pytest.importorskip("nnunetv2")
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor

    from mlarray.nnunet import MLArrayIO

    images, labels = _fg_dataset(tmp_path)
    img_files = sorted(str(p) for p in (tmp_path / "imagesTr").glob("*.mla"))
    lab_files = sorted(str(p) for p in (tmp_path / "labelsTr").glob("*.mla"))
    samples = []
    for k, (img_file, lab_file) in enumerate(zip(img_files, lab_files)):
        data, _ = MLArrayIO().read_images([img_file])
        seg, _ = MLArrayIO().read_seg(lab_file)
        sampled, per_case = DatasetFingerprintExtractor.collect_foreground_intensities(seg, data)
        samples.append(sampled[0])
        ours = _stats_json([img_file, "--foreground", lab_file], capsys)["foreground_intensity_properties_per_channel"]
        for key in ("mean", "median", "min", "max", "percentile_00_5", "percentile_99_5"):
            assert np.isclose(ours["0"][key], per_case[0][key], rtol=1e-6), (k, key)
    pooled = np.concatenate(samples)
    ours = _stats_json([str(tmp_path / "imagesTr"), "--foreground", str(tmp_path / "labelsTr")],
                       capsys)["foreground_intensity_properties_per_channel"]["0"]
    spread = pooled.std()
    assert abs(ours["mean"] - pooled.mean()) < 0.05 * spread and abs(ours["std"] - pooled.std()) < 0.05 * spread
    assert abs(ours["median"] - np.median(pooled)) < 0.05 * spread
    assert ours["min"] <= pooled.min() and ours["max"] >= pooled.max()


def test_stats_foreground_pairing_and_channels(tmp_path, capsys):
    from mlarray.cli import main

    rng = np.random.default_rng(0)
    img = rng.normal(size=(2, 6, 7, 8)).astype(np.float32)  # two channels first
    lab = np.zeros((6, 7, 8), np.uint8)
    lab[1:4, 2:5, 3:6] = 1
    MLArray(img, axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"]).save(tmp_path / "a.mla")
    MLArray(lab, meta=Meta(is_seg=True)).save(tmp_path / "a_seg.mla")
    fg = _stats_json([str(tmp_path / "a.mla"), "--foreground", str(tmp_path / "a_seg.mla")],
                     capsys)["foreground_intensity_properties_per_channel"]
    assert sorted(fg) == ["0", "1"]
    for c in (0, 1):
        assert np.isclose(fg[str(c)]["mean"], img[c][lab > 0].mean(), rtol=1e-5)
    # text output names the figures; unpaired files are refused with a reason
    assert main(["stats", str(tmp_path / "a.mla"), "--foreground", str(tmp_path / "a_seg.mla")]) == 0
    assert "foreground 0" in capsys.readouterr().out
    MLArray(lab, meta=Meta(is_seg=True)).save(tmp_path / "b_seg.mla")
    assert main(["stats", str(tmp_path / "a.mla"), "--foreground", str(tmp_path / "a_seg.mla"),
                 str(tmp_path / "b_seg.mla")]) == 2
    assert "cannot pair" in capsys.readouterr().err


def test_mismatched_inputs_are_mlarray_errors_and_value_errors(ds):
    import mlarray
    from mlarray.dataset_stats import pair_images_and_labels

    d, _, _, _ = ds
    images = sorted(str(p) for p in (d / "ct").glob("*.mla"))
    with pytest.raises(mlarray.InputError) as info:
        pair_images_and_labels(images, images[:1])
    assert isinstance(info.value, ValueError) and isinstance(info.value, mlarray.MLArrayError)
    with pytest.raises(ValueError, match="method="):  # what code written before the error family catches
        dataset_stats(d / "ct", method="guess")
