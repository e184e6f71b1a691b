"""API keys: created by `affectlens keys create`, stored hashed, required by every /v1 route and the WebSocket."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import httpx
import pytest
import websockets

from tests.serve.conftest import run_cli, start_server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("auth")
    proc = run_cli("keys", "create", "--name", "ci", "--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip()
    s = start_server(data, key=key)
    yield s
    s.stop()


def test_keys_are_stored_hashed(auth_server):
    assert auth_server.key.startswith("al_")
    with sqlite3.connect(auth_server.data_dir / "serve.db") as db:
        stored = db.execute("select * from serve_api_keys").fetchall()
    assert len(stored) == 1 and auth_server.key.split("_", 2)[2] not in repr(stored)
    listed = run_cli("keys", "list", "--data-dir", str(auth_server.data_dir)).stdout
    assert "ci" in listed and auth_server.key not in listed


def test_requests_without_or_with_a_wrong_key_are_401(auth_server, media):
    image = (media / "expressions" / "happy.jpg").read_bytes()
    with httpx.Client(base_url=auth_server.url, timeout=30) as c:
        r = c.post("/v1/analyze/image", files={"file": ("h.jpg", image)})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert "missing" in r.json()["error"]["message"]
        wrong = auth_server.key[:-4] + "abcd"
        for headers in ({"X-API-Key": wrong}, {"X-API-Key": "al_nothing_here"}, {"Authorization": "Bearer x"}):
            r = c.post("/v1/analyze/image", files={"file": ("h.jpg", image)}, headers=headers)
            assert r.status_code == 401 and "invalid" in r.json()["error"]["message"], headers
        assert c.get("/v1/jobs").status_code == 401
        assert c.get("/v1/studies").status_code == 401
        # the dashboard itself and the health check need no key (the pages ask for it)
        assert c.get("/").status_code == 200 and c.get("/v1/health").json()["auth"] is True


def test_a_good_key_works_in_header_bearer_or_query(auth_server, media):
    image = (media / "expressions" / "happy.jpg").read_bytes()
    key = auth_server.key
    with httpx.Client(base_url=auth_server.url, timeout=60) as c:
        for kw in ({"headers": {"X-API-Key": key}}, {"headers": {"Authorization": f"Bearer {key}"}}):
            assert c.post("/v1/analyze/image", files={"file": ("h.jpg", image)}, **kw).status_code == 200
        assert c.get("/v1/jobs", params={"key": key}).status_code == 200


def test_websocket_needs_the_key_too(auth_server):
    ws_url = auth_server.url.replace("http", "ws") + "/v1/live"

    async def first_message(url):
        async with websockets.connect(url) as ws:
            msg = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return msg, closed.value.rcvd.code

    msg, code = asyncio.run(first_message(ws_url))
    assert msg["type"] == "error" and msg["status"] == 401 and code == 4401
    msg, _ = asyncio.run(_ready(f"{ws_url}?key={auth_server.key}"))
    assert msg["type"] == "ready"


async def _ready(url):
    async with websockets.connect(url) as ws:
        return json.loads(await ws.recv()), None


def test_revoked_keys_stop_working(auth_server):
    proc = run_cli("keys", "create", "--name", "temp", "--data-dir", str(auth_server.data_dir))
    key = proc.stdout.strip()
    with httpx.Client(base_url=auth_server.url, timeout=30, headers={"X-API-Key": key}) as c:
        assert c.get("/v1/jobs").status_code == 200
        assert run_cli("keys", "revoke", key.split("_")[1], "--data-dir", str(auth_server.data_dir)).returncode == 0
        assert c.get("/v1/jobs").status_code == 401
