"""A real S3-compatible server on loopback for the team store's s3:// data path: moto in
server mode (`moto.server.ThreadedMotoServer`) on a free port, serving from memory. Nothing
reaches AWS: every client is pointed at the loopback endpoint.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = (
    "the s3:// team store tests need moto[server] and boto3 (the dev extras): "
    "pip install -e '.[dev]'"
)
# Credentials for the loopback server only: moto accepts any, the tests check none leaks.
KEY_ID = "AKIATRACKERLOOPBACK1"
REGION = "eu-west-1"


@dataclass(frozen=True)
class S3Server:
    """A running loopback S3 server: its endpoint URL and a boto3 client for it."""

    endpoint_url: str
    client: Any

    def create_bucket(self, name: str) -> None:
        self.client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )

    def keys(self, bucket: str) -> list[str]:
        """Every object key in `bucket`."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(secret: str) -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1 (ImportError when moto or boto3 is not installed)."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                              aws_access_key_id=KEY_ID, aws_secret_access_key=secret)  # fmt: skip
        yield S3Server(endpoint, client)
    finally:
        server.stop()
