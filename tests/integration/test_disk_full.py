"""A full disk while re-indexing: the change is saved, the previous index keeps serving, and once there is
room again the change is served without anyone stepping in.

The data directory (where the index is written) is a small tmpfs this test mounts; the store is elsewhere,
as a production store (PostgreSQL) would be. Mounting needs root, which the test machines have.
"""

from __future__ import annotations

import errno
import subprocess
import time

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_token
from tests.factories import pair_data

pytestmark = pytest.mark.integration


def fill(path) -> None:
    """Write zeros until the filesystem is full."""
    with open(path, "wb") as f:
        block = b"\0" * 65536
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # the last partial write may leave a few bytes free: take them too
    try:
        with open(path, "ab") as f:
            while True:
                f.write(b"\0")
                f.flush()
    except OSError:
        pass


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"mounting a small filesystem needs root: {done.stderr.strip()}", pytrace=False)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_while_reindexing_loses_nothing_and_recovers_by_itself(tmp_path, small_disk, make_settings):
    from api.main import create_app

    settings = make_settings(data_dir=small_disk, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    settings.operations.sync_seconds = 0.5
    app = create_app(settings)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {make_token(app.state.runtime, 'editor')}"}
        index_before = client.get("/healthz").json()["index"]["checksum"]
        fill(small_disk / "filler")

        data = pair_data(
            id="disk-full-pair",
            question="Is the quince vein theory of MS proven?",
            alternates=["quince vein theory", "is quince vein theory proven", "quince theory ms"],
            answer="No. The quince vein theory is a test pair written while the disk was full.",
        )
        r = client.post("/api/qa", json=data, headers=auth)
        assert r.status_code == 201, r.text  # saved: the editor's work is not lost
        assert client.get("/api/qa/disk-full-pair", headers=auth).status_code == 200

        health = client.get("/healthz").json()["index"]
        assert health["checksum"] == index_before and "could not be written" in health["behind"]
        reply = client.post("/api/chat", json={"message": "is the quince vein theory proven?"}).json()["replies"][0]
        assert not (reply.get("answer") and reply["answer"]["id"] == "disk-full-pair")  # the old index serves
        assert client.get("/readyz").status_code == 200

        (small_disk / "filler").unlink()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            health = client.get("/healthz").json()["index"]
            if "behind" not in health:
                break
            time.sleep(0.5)
        assert "behind" not in health, health
        reply = client.post("/api/chat", json={"message": "is the quince vein theory proven?"}).json()["replies"][0]
        assert reply["answer"] and reply["answer"]["id"] == "disk-full-pair"

    # A restart on that disk serves the change from the index it saved.
    with TestClient(create_app(settings)) as client:
        reply = client.post("/api/chat", json={"message": "is the quince vein theory proven?"}).json()["replies"][0]
        assert reply["answer"] and reply["answer"]["id"] == "disk-full-pair"
