"""An S3 server for the tests: moto's ThreadedMotoServer on a free loopback port, real HTTP.

``s3_server`` (session) starts it once and answers its endpoint URL; ``s3_bucket`` makes an
empty bucket per test (the app never creates buckets itself). Import the fixtures into a test
module with ``from tests.support.s3 import s3_server, s3_bucket  # noqa: F401``.
"""
from __future__ import annotations

import os
import uuid

import pytest

_DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of a moto S3 server listening on 127.0.0.1 (dummy credentials in the environment)."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in _DUMMY_CREDENTIALS}
    os.environ.update(_DUMMY_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def s3_client(endpoint_url: str):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name="us-east-1",
                                          config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def s3_bucket(s3_server):
    """A new, empty bucket on the test S3 server; answers its name."""
    name = f"lineside-test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=name)
    return name


def s3_app_config(endpoint_url: str, bucket: str, prefix: str = "photos-test") -> dict:
    """App config overrides that point storage at the test S3 server."""
    return {"STORAGE_URL": f"s3://{bucket}/{prefix}", "S3_ENDPOINT_URL": endpoint_url,
            "S3_REGION": "us-east-1", "S3_PATH_STYLE": True}
