"""A real S3-compatible server on loopback for the team store's s3:// data path: moto in
server mode (`moto.server.ThreadedMotoServer`) on a free port, serving from memory. Nothing
reaches AWS: every client is pointed at the loopback endpoint.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

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


@contextmanager
def refusing_server() -> Iterator[str]:
    """moto's S3 in a process of its own with authentication on and no account: it answers
    every request 403 InvalidAccessKeyId, as AWS does for unknown or wrong credentials.
    Yields its endpoint URL."""
    port = _free_port()
    environment = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "moto.server did not start"
                assert time.monotonic() < deadline, "moto.server did not listen in 30 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
