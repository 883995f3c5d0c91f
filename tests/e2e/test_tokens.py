"""Bearer tokens from the command line, as an admin manages them: made, listed, revoked, through the live service."""

import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def cli(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=REPO, env=server.env, capture_output=True, text=True, timeout=60
    )


def search_status(server, token: str) -> int:
    r = httpx.get(
        server.base_url + "/api/search",
        params={"q": "is the liberation procedure proven"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return r.status_code


def test_a_token_is_listed_by_its_fingerprint_and_refused_once_revoked(live_server):
    made = cli(live_server, "token", "--role", "staff", "--label", "helpline desk 3")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    fingerprint = made.stderr.split("fingerprint ")[1].split(")")[0]
    assert search_status(live_server, token) == 200  # and its role is now remembered by the service

    listed = cli(live_server, "tokens")
    line = next(x for x in listed.stdout.splitlines() if x.startswith(fingerprint))
    assert "staff" in line and "helpline desk 3" in line and token not in listed.stdout

    assert cli(live_server, "revoke-token", "0000").returncode == 1  # too short: nothing changed
    revoked = cli(live_server, "revoke-token", fingerprint[:10])
    assert revoked.returncode == 0 and fingerprint in revoked.stdout, revoked.stderr
    assert fingerprint not in cli(live_server, "tokens").stdout
    # Another process revoked it: the service stops taking it within ROLE_CACHE_SECONDS (10).
    deadline = time.monotonic() + 20
    while search_status(live_server, token) == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert search_status(live_server, token) == 401
    again = cli(live_server, "revoke-token", fingerprint)
    assert again.returncode == 1 and "No token" in again.stderr
