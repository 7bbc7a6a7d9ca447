"""to_dask (chunk-aligned, lazy) and batch conversion / stats on a dask.distributed cluster."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from mlarray import MLArray  # noqa: E402
from mlarray.cli import _convert_one as _real_convert_one  # noqa: E402
from mlarray.dask import MLArrayBlockReader, to_dask  # noqa: E402

AXES4 = ["channel", "spatial_z", "spatial_y", "spatial_x"]


@pytest.fixture()
def volume(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(-100, 100, size=(2, 40, 50, 70)).astype(np.int16)
    path = tmp_path / "vol.mla"
    MLArray(a, axis_labels=AXES4, chunk_size=(1, 16, 32, 32), block_size=(1, 8, 8, 16), patch_size=None).save(path)
    return path, a


def _tiling(shape, chunks):
    return tuple(tuple(min(c, n - s) for s in range(0, n, c)) for n, c in zip(shape, chunks))


def test_chunks_align_with_the_file(volume):
    path, a = volume
    store_chunks = MLArray.open(path).chunks
    assert tuple(store_chunks) == (1, 16, 32, 32)
    x = to_dask(path)
    assert x.shape == a.shape and x.dtype == a.dtype
    assert x.chunks == _tiling(a.shape, store_chunks)
    np.testing.assert_array_equal(x.compute(scheduler="synchronous"), a)
    assert int(x[1, 10:30].sum().compute(scheduler="synchronous")) == int(a[1, 10:30].sum())
    # an MLArray opened from a file works too
    assert to_dask(MLArray.open(path)).chunks == x.chunks


def test_lazy_building_reads_nothing_and_a_block_reads_only_itself(volume, monkeypatch):
    path, a = volume
    reads = []
    original = MLArrayBlockReader.__getitem__

    def spy(self, key):
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(MLArrayBlockReader, "__getitem__", spy)
    x = to_dask(path)
    y = (x.astype(np.float32) * 2)[1]
    assert reads == []  # graph construction touches no pixels
    block = x.blocks[1, 2, 1, 0].compute(scheduler="synchronous")
    assert reads == [(slice(1, 2), slice(32, 40), slice(32, 50), slice(0, 32))]
    np.testing.assert_array_equal(block, a[1:2, 32:40, 32:50, 0:32])
    reads.clear()
    y[5:10, 0:10, 0:10].compute(scheduler="synchronous")
    assert reads == [(slice(1, 2), slice(0, 16), slice(0, 32), slice(0, 32))]


def test_reader_pickles_as_path(volume):
    path, a = volume
    r = MLArrayBlockReader(path)
    r[0, 0, 0, 0]  # opened in this process
    blob = pickle.dumps(r)
    assert len(blob) < 1000
    r2 = pickle.loads(blob)
    np.testing.assert_array_equal(r2[0, :3, :3, :3], a[0, :3, :3, :3])


def test_pyramid_level_and_errors(tmp_path):
    a = np.arange(8 * 300 * 40, dtype=np.float32).reshape(8, 300, 40)
    path = tmp_path / "pyr.mla"
    MLArray(a).save(path)
    img = MLArray.open(path)
    assert len(img.levels) == 2
    x1 = to_dask(path, level=1)
    assert x1.shape == img.levels[1].shape
    np.testing.assert_allclose(x1.compute(scheduler="synchronous"), img.levels[1][...])
    with pytest.raises(ValueError, match="file"):
        to_dask(MLArray(a))


def test_distributed_compute(volume):
    import distributed
    path, a = volume
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        total = client.compute(to_dask(path).sum()).result()
    assert int(total) == int(a.astype(np.int64).sum())


# ----------------------------------------------------------------------------- CLI on a cluster

def _nifti_inputs(tmp_path, n=4):
    import nibabel as nib
    src = tmp_path / "in"
    src.mkdir()
    arrays = {}
    for i in range(n):
        a = np.random.default_rng(i).integers(0, 1000, size=(12, 14, 10)).astype(np.int16)
        nib.save(nib.Nifti1Image(a, np.diag([0.8, 0.8, 2.0 + i, 1.0])), src / f"case{i}.nii.gz")
        arrays[f"case{i}"] = a
    (src / "broken.nii.gz").write_bytes(b"this is not a NIfTI file")
    return src, arrays


@pytest.fixture(scope="module")
def cluster():
    import distributed
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as c:
        yield c


def test_convert_on_a_cluster_collects_failures_per_file(tmp_path, cluster, monkeypatch):
    from mlarray.cli import main

    src, arrays = _nifti_inputs(tmp_path)
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)  # relative paths are made absolute before they reach the workers
    rc = main(["convert", "-q", "--scheduler", cluster.scheduler_address, "in", "out"])
    assert rc == 1  # one bad input
    produced = sorted(p.name for p in out.iterdir())
    assert produced == [f"case{i}.mla" for i in range(4)]  # nothing half-written, no partials
    for name, a in arrays.items():
        img = MLArray.open(out / f"{name}.mla")
        assert img.spacing[2] == pytest.approx(2.0 + int(name[-1]))
        assert img.to_numpy().shape == a.shape


def test_scheduler_and_jobs_share_one_code_path(tmp_path, cluster):
    from mlarray.cli import run_batch

    src, _ = _nifti_inputs(tmp_path, n=3)
    pairs = [(str(p), str(tmp_path / f"{p.name[:-7]}_{tag}.mla")) for tag in ("a",) for p in sorted(src.iterdir())]
    by_cluster = run_batch(pairs, scheduler=cluster.scheduler_address, quiet=True)
    pairs_jobs = [(s, d.replace("_a.mla", "_b.mla")) for s, d in pairs]
    by_jobs = run_batch(pairs_jobs, jobs=2, quiet=True)
    assert sorted((os.path.basename(s), e is None) for s, _, e in by_cluster) == \
        sorted((os.path.basename(s), e is None) for s, _, e in by_jobs)
    failed = [e for _, _, e in by_cluster if e]
    assert len(failed) == 1 and "broken" in [os.path.basename(s) for s, _, e in by_cluster if e][0]


def _dying_convert(src, dst, patch_size, seg, *options, **named):
    """Stands in for a worker killed mid-write: leaves a temporary file and raises past the
    per-file error handling (as BrokenProcessPool / KilledWorker would)."""
    folder, name = os.path.split(dst)
    with open(os.path.join(folder, f".{name}.dead.partial.mla"), "wb") as fh:
        fh.write(b"half")
    if "case1" in src:
        raise SystemError("worker died")
    os.unlink(os.path.join(folder, f".{name}.dead.partial.mla"))
    return _real_convert_one(src, dst, patch_size, seg, *options, **named)


def test_a_dead_task_fails_only_its_file_and_leaves_nothing(tmp_path, cluster, monkeypatch):
    import mlarray.cli as cli

    src, _ = _nifti_inputs(tmp_path, n=3)
    monkeypatch.setattr(cli, "_convert_one", _dying_convert)
    pairs = [(str(src / f"case{i}.nii.gz"), str(tmp_path / f"case{i}.mla")) for i in range(3)]
    results = cli.run_batch(pairs, scheduler=cluster, quiet=True)
    errors = {os.path.basename(s): e for s, _, e in results}
    assert errors["case0.nii.gz"] is None and errors["case2.nii.gz"] is None
    assert "worker died" in errors["case1.nii.gz"]
    assert not (tmp_path / "case1.mla").exists()
    assert not list(tmp_path.glob(".case1.mla.*partial*"))


def test_stats_on_a_cluster(tmp_path, cluster, capsys):
    import json

    from mlarray.cli import main

    src, arrays = _nifti_inputs(tmp_path, n=3)
    out = tmp_path / "mla"
    assert main(["convert", "-q", "--jobs", "2", *[str(src / f"case{i}.nii.gz") for i in range(3)], str(out)]) == 0
    capsys.readouterr()
    assert main(["stats", str(out), "--scheduler", cluster.scheduler_address, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    allv = np.concatenate([a.ravel() for a in arrays.values()])
    assert report["intensity"]["exact"] is True
    assert report["intensity"]["percentiles"]["99"] == pytest.approx(np.percentile(allv, 99))
