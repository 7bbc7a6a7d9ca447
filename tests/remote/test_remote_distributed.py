"""dask.distributed workers read ``.mla`` URLs: ``mlarray convert --scheduler`` and ``to_dask(url)`` computed on a
real ``LocalCluster`` (worker processes of their own) against the Range server of conftest.http_server."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mlarray import MLArray, remote
from mlarray.cli import main

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.array")


@pytest.fixture
def cluster(http_server):
    """Two single-threaded worker processes with little memory; started after the server fixture set its
    retry settings, which the workers inherit."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="400MiB",
                                  dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture
def served(http_server, tmp_path):
    url, rec = http_server
    rng = np.random.default_rng(11)
    img = rng.normal(0, 300, (24, 80, 72)).astype(np.int16)
    MLArray(img, spacing=[2.5, 0.8, 0.8], chunk_size=[8, 40, 36]).save(tmp_path / "ct.mla")
    return f"{url}/ct.mla", tmp_path / "ct.mla", img, rec


def test_convert_with_scheduler_reads_the_url_on_the_workers(cluster, served, tmp_path):
    url, path, img, rec = served
    out, local_out = tmp_path / "out" / "ct.nii.gz", tmp_path / "local.nii.gz"
    out.parent.mkdir()
    rec.reset()
    assert main(["convert", url, str(out), "--scheduler", cluster.scheduler_address, "--quiet"]) == 0
    assert {p for p, _ in rec.requests} == {"/ct.mla"}
    assert remote.traffic(url) is None  # it was the workers that fetched it: this process never opened it
    assert main(["convert", str(path), str(local_out), "--quiet"]) == 0
    import nibabel as nib

    got, want = nib.load(out), nib.load(local_out)
    np.testing.assert_array_equal(np.asarray(got.dataobj), np.asarray(want.dataobj))
    np.testing.assert_allclose(got.affine, want.affine)


def test_convert_with_scheduler_several_urls_into_a_folder(cluster, served, tmp_path):
    url, path, img, rec = served
    MLArray(img[:, ::-1], spacing=[2.5, 0.8, 0.8]).save(tmp_path / "flipped.mla")
    dst = tmp_path / "mla_out"
    assert main(["convert", url, url.replace("ct.mla", "flipped.mla"), str(dst) + "/", "--to", ".mla",
                 "--scheduler", cluster.scheduler_address, "--quiet"]) == 0
    np.testing.assert_array_equal(MLArray.open(dst / "ct.mla").to_numpy(), img)
    np.testing.assert_array_equal(MLArray.open(dst / "flipped.mla").to_numpy(), img[:, ::-1])


def test_to_dask_of_a_url_computes_on_the_cluster(cluster, served):
    from mlarray.dask import to_dask

    url, path, img, rec = served
    arr = to_dask(url)
    with distributed.Client(cluster, set_as_default=False) as client:
        rec.reset()
        got = client.compute(arr).result()
        assert len(rec.requests) >= 2  # chunk reads from the workers
        who = client.run(lambda: __import__("os").getpid())
        assert len(who) == 2
        total = client.compute(arr.astype(np.int64).sum()).result()
        part = client.compute(arr[5:20, 10:70, 3:50]).result()
    np.testing.assert_array_equal(got, img)
    np.testing.assert_array_equal(got, MLArray.open(path).to_numpy())
    assert total == img.astype(np.int64).sum()
    np.testing.assert_array_equal(part, img[5:20, 10:70, 3:50])


def test_convert_with_local_worker_processes_reads_urls(served, tmp_path):
    """``--jobs 2``: the same batch loop in local processes (spawned), which got the URL as a local path too."""
    url, path, img, rec = served
    MLArray(img[::-1], spacing=[2.5, 0.8, 0.8]).save(tmp_path / "flipped.mla")
    dst = tmp_path / "nrrd"
    assert main(["convert", url, url.replace("ct.mla", "flipped.mla"), str(dst) + "/", "--to", ".nrrd",
                 "--jobs", "2", "--quiet"]) == 0
    assert remote.traffic(url) is None
    for name, want in (("ct", img), ("flipped", img[::-1])):
        assert main(["convert", str(dst / f"{name}.nrrd"), str(tmp_path / f"{name}.mla"), "--quiet"]) == 0
        np.testing.assert_array_equal(MLArray.open(tmp_path / f"{name}.mla").to_numpy(), want)
