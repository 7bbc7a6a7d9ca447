"""Everywhere a path is taken, a URL works: the CLI, PatchSampler, torch's PatchDataset (workers reopen by
URL) and dask, against the Range server of conftest.http_server."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from mlarray import MLArray
from mlarray.cli import main
from mlarray.meta import Meta


@pytest.fixture
def pair(http_server, tmp_path):
    """An image and its segmentation, served over HTTP: (urls, local paths, image array, label array, recorder)."""
    url, rec = http_server
    rng = np.random.default_rng(3)
    img = rng.normal(100, 20, (40, 96, 96)).astype(np.float32)
    lab = np.zeros(img.shape, np.uint8)
    lab[10:20, 30:50, 40:70] = 1
    MLArray(img, spacing=[2.0, 1.0, 1.0], chunk_size=[20, 48, 48]).save(tmp_path / "img.mla")
    MLArray(lab, meta=Meta(is_seg=True), spacing=[2.0, 1.0, 1.0], chunk_size=[20, 48, 48]).save(tmp_path / "seg.mla")
    urls = [f"{url}/img.mla", f"{url}/seg.mla"]
    return urls, [str(tmp_path / "img.mla"), str(tmp_path / "seg.mla")], img, lab, rec


def test_cli_info_reads_no_pixels(pair, capsys):
    (u, _), (p, _), img, _, rec = pair
    assert main(["info", "--json", u]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["file"] == u and d["shape"] == [40, 96, 96] and d["file_size"] == os.path.getsize(p)
    assert len(rec.requests) <= 3 and rec.nbytes < 0.1 * os.path.getsize(p)


def test_cli_validate_convert_stats(pair, tmp_path, capsys):
    (u, s), (p, _), img, lab, rec = pair
    assert main(["validate", u]) == 0
    assert main(["convert", u, str(tmp_path / "out.nii.gz")]) == 0
    out = tmp_path / "back.mla"
    assert main(["convert", str(tmp_path / "out.nii.gz"), str(out)]) == 0
    np.testing.assert_allclose(MLArray.open(out).to_numpy(), img)
    capsys.readouterr()
    assert main(["stats", "--json", u, s]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == 2 and not report["failed"]


def test_cli_reports_a_missing_url(http_server, capsys):
    url, rec = http_server
    assert main(["info", f"{url}/nothing.mla"]) == 1
    assert f"{url}/nothing.mla" in capsys.readouterr().err


def test_patch_sampler_over_urls_reads_what_local_files_hold(pair):
    from mlarray.training import PatchSampler

    urls, paths, img, lab, rec = pair
    remote = PatchSampler(urls[:1], urls[1:], patch_size=(16, 32, 32), foreground=None, seed=5)
    local = PatchSampler(paths[:1], paths[1:], patch_size=(16, 32, 32), foreground=None, seed=5)
    rec.reset()
    for i in range(6):
        a, b = remote.sample(i), local.sample(i)
        np.testing.assert_array_equal(a["start"], b["start"])
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])
    fg = PatchSampler(urls[:1], urls[1:], patch_size=(16, 32, 32), foreground_fraction=1.0, seed=5)
    item = fg.sample(0)
    assert item["foreground"] and item["label"].any()


def test_torch_patch_dataset_workers_reopen_by_url(pair):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from mlarray.torch import PatchDataset

    urls, paths, img, lab, rec = pair
    ds = PatchDataset(images=urls[:1], labels=urls[1:], patch_size=(16, 32, 32), length=8, seed=2, foreground=None)
    single = list(DataLoader(ds, batch_size=4, num_workers=0))
    multi = list(DataLoader(ds, batch_size=4, num_workers=2))
    local = list(DataLoader(PatchDataset(images=paths[:1], labels=paths[1:], patch_size=(16, 32, 32), length=8,
                                         seed=2, foreground=None), batch_size=4))
    for a, b, c in zip(single, multi, local):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
        assert torch.equal(a["image"], c["image"]) and torch.equal(a["label"], c["label"])
        assert torch.equal(a["start"], c["start"])


def test_to_dask_over_a_url(pair):
    pytest.importorskip("dask")
    from mlarray.dask import to_dask

    urls, paths, img, lab, rec = pair
    arr = to_dask(urls[0])
    assert arr.shape == img.shape and arr.chunksize == (20, 48, 48)
    rec.reset()
    np.testing.assert_array_equal(arr[0:10, 0:20, 0:20].compute(), img[0:10, 0:20, 0:20])
    assert rec.nbytes < 0.3 * os.path.getsize(paths[0])  # one chunk of eight
    np.testing.assert_array_equal(arr.compute(), img)
    assert to_dask(urls[0]).name == arr.name != to_dask(paths[0]).name


def test_cli_converts_a_signed_url(pair, tmp_path, capsys):
    """A presigned object-store link: the query is no glob pattern and no part of the file's name."""
    (u, _), (p, _), img, lab, rec = pair
    signed = f"{u}?X-Amz-Credential=AK%2F2026%2Fus&X-Amz-Expires=600&X-Amz-Signature=a%2Bb.c"
    assert main(["info", signed]) == 0
    assert main(["convert", signed, str(tmp_path / "one.nii.gz")]) == 0
    assert main(["convert", signed, str(tmp_path / "many") + "/", "--to", ".nrrd"]) == 0
    assert sorted(os.listdir(tmp_path / "many")) == ["img.nrrd"]
    assert {path for path, _ in rec.requests} == {signed.removeprefix(u.rsplit("/", 1)[0])}
    back = tmp_path / "back.mla"
    assert main(["convert", str(tmp_path / "many" / "img.nrrd"), str(back)]) == 0
    np.testing.assert_allclose(MLArray.open(back).to_numpy(), img)


def test_cli_converts_a_nifti_url_as_it_converts_the_local_file(http_server, tmp_path, capsys):
    """`mlarray info` of a URL that is no .mla advises converting it: that command works (a trial user's led
    nowhere: 'file does not exist'). The file is fetched whole, since nibabel reads local files."""
    from nibabel.testing import data_path

    url, rec = http_server
    shutil.copy(os.path.join(data_path, "anatomical.nii"), tmp_path / "anatomical.nii")
    assert main(["info", f"{url}/anatomical.nii"]) == 1
    assert f"mlarray convert {url}/anatomical.nii OUT.mla" in capsys.readouterr().err
    assert main(["convert", f"{url}/anatomical.nii", str(tmp_path / "out" / "from_url.mla")]) == 0
    assert main(["convert", str(tmp_path / "anatomical.nii"), str(tmp_path / "from_file.mla")]) == 0
    a, b = MLArray.open(tmp_path / "out" / "from_url.mla"), MLArray.open(tmp_path / "from_file.mla")
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    np.testing.assert_allclose(a.affine, b.affine)
    assert os.listdir(tmp_path / "out") == ["from_url.mla"]  # the download is gone
    assert rec.requests and all(path == "/anatomical.nii" for path, _ in rec.requests)


def test_cli_refuses_to_write_to_a_url_and_writes_nothing_locally(pair, tmp_path, capsys, monkeypatch):
    (u, _), _, _, _, _ = pair
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    assert main(["convert", u, u.replace("img.mla", "up.nii.gz")]) != 0
    err = capsys.readouterr().err
    assert "upload" in err and "up.nii.gz" in err
    assert set(os.listdir(tmp_path)) == before  # no "http:" folder made from the URL
