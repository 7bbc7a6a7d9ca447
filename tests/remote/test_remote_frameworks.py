"""MONAI's ``LoadImage`` and TorchIO's images read an ``.mla`` URL through their own APIs, as they read the
local file (both turn file names into ``pathlib.Path``, which merges the URL's ``//``)."""

from __future__ import annotations

import numpy as np
import pytest

from mlarray import MLArray


@pytest.fixture
def served(http_server, tmp_path):
    url, rec = http_server
    arr = np.random.default_rng(3).integers(-1000, 2000, (20, 24, 12)).astype(np.int16)
    path = tmp_path / "ct.mla"
    MLArray(arr, spacing=[1.5, 0.8, 2.5], origin=[10.0, -20.0, 5.0], direction=np.diag([-1.0, -1.0, 1.0]),
            chunk_size=[10, 12, 12]).save(path)
    return f"{url}/ct.mla", path, rec


def test_monai_load_image_reads_a_url(served):
    pytest.importorskip("monai", reason="install mlarray[monai]")
    from monai.transforms import LoadImage, LoadImaged

    import mlarray.monai  # registers the reader

    url, path, rec = served
    local = LoadImage(image_only=True)(str(path))
    for loader in (LoadImage(image_only=True), LoadImage(image_only=True, reader=mlarray.monai.MLArrayReader())):
        img = loader(url)  # no reader named: MONAI picks ours by the suffix
        np.testing.assert_array_equal(img.numpy(), local.numpy())
        np.testing.assert_allclose(img.affine.numpy(), local.affine.numpy())
    d = LoadImaged(keys="ct", image_only=True)({"ct": url})
    np.testing.assert_array_equal(d["ct"].numpy(), local.numpy())
    assert any(r for _, r in rec.requests)  # read over HTTP Range requests, not from a local copy


def test_torchio_images_read_a_url(served):
    tio = pytest.importorskip("torchio", reason="install mlarray[torchio]")
    import torch

    import mlarray.torchio

    url, path, rec = served
    local = tio.ScalarImage(path, reader=mlarray.torchio.reader)
    # verify_path=False: TorchIO checks for a local file before any reader runs unless told not to
    remote = tio.ScalarImage(url, reader=mlarray.torchio.reader, verify_path=False)
    assert torch.equal(remote.data, local.data)
    np.testing.assert_allclose(remote.affine, local.affine)
    subject = tio.Subject(ct=tio.ScalarImage(url, reader=mlarray.torchio.reader, verify_path=False))
    out = tio.Compose([tio.ToCanonical(), tio.RescaleIntensity()])(subject)
    ref = tio.Compose([tio.ToCanonical(), tio.RescaleIntensity()])(tio.Subject(ct=local))
    assert torch.equal(out["ct"].data, ref["ct"].data)


def test_a_local_file_named_like_a_collapsed_url_is_read_as_the_file(tmp_path, monkeypatch):
    from mlarray._remote import restore_url

    monkeypatch.chdir(tmp_path)
    (tmp_path / "https:" / "host").mkdir(parents=True)
    MLArray(np.zeros((4, 4), np.uint8)).save(tmp_path / "https:" / "host" / "a.mla")
    assert restore_url("https:/host/a.mla") == "https:/host/a.mla"  # it exists: the local file
    assert restore_url("https:/host/b.mla") == "https://host/b.mla"
    assert restore_url("s3:/bucket/k/c.mla") == "s3://bucket/k/c.mla"
    assert restore_url("notes:/x.mla") == "notes:/x.mla"  # not a remote scheme
