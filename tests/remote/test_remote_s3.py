"""MLArray.open("s3://...") against an S3-compatible endpoint on 127.0.0.1 (moto's server mode), through fsspec."""

from __future__ import annotations

import numpy as np
import pytest

from mlarray import MLArray
from mlarray.remote import RemoteNotFoundError, traffic

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture
def s3(monkeypatch):
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # the standard AWS environment: botocore (under s3fs) reads the endpoint from it
    for k, v in dict(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                     AWS_ENDPOINT_URL=f"http://{host}:{port}").items():
        monkeypatch.setenv(k, v)
    import boto3
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # s3fs caches filesystems with their endpoint
    client = boto3.client("s3")
    client.create_bucket(Bucket="data")
    try:
        yield client
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def test_open_and_read_from_s3(s3, tmp_path):
    from mlarray._remote.store import cache

    cache.clear()
    arr = np.random.default_rng(1).integers(0, 3000, (16, 1024, 1024)).astype(np.int16)
    MLArray(arr, spacing=[2.0, 0.5, 0.5]).save(tmp_path / "ct.mla", pyramid=True)
    s3.upload_file(str(tmp_path / "ct.mla"), "data", "ct.mla")
    img = MLArray.open("s3://data/ct.mla")
    opened = traffic("s3://data/ct.mla")
    assert opened.requests <= 4  # the object's size and ETag, then header, base frame header, index + trailer
    assert opened.nbytes < 0.05 * (tmp_path / "ct.mla").stat().st_size
    assert img.spacing == [2.0, 0.5, 0.5] and len(img.levels) > 1
    np.testing.assert_array_equal(img[3:9, 100:300, 500:700], arr[3:9, 100:300, 500:700])
    np.testing.assert_array_equal(img.levels[-1][...], MLArray.open(tmp_path / "ct.mla").levels[-1][...])
    with pytest.raises(RemoteNotFoundError, match="s3://data/none.mla"):
        MLArray.open("s3://data/none.mla")
