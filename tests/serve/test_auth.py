"""API keys: created by `affectlens keys create`, stored hashed, required by every /v1 route and the WebSocket."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

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
        assert c.get("/v1/jobs", params={"key": key}).status_code == 401  # never in a URL (logs, history)


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
    msg, _ = asyncio.run(first_message(f"{ws_url}?key={auth_server.key}"))  # the key is not taken from a URL
    assert msg["status"] == 401
    with httpx.Client(base_url=auth_server.url, timeout=30, headers={"X-API-Key": auth_server.key}) as c:
        t = c.post("/v1/tickets", json={"path": "/v1/live"}).json()
        other = c.post("/v1/tickets", json={"path": "/v1/jobs/x/annotated"}).json()
        assert c.post("/v1/tickets", json={"path": "/v1/tickets"}).status_code == 422  # no ticket mints tickets
    assert auth_server.key not in t["url"] and t["url"].startswith("/v1/live?ticket=")
    msg, _ = asyncio.run(_ready(f"{ws_url}?ticket={t['ticket']}"))
    assert msg["type"] == "ready"
    msg, _ = asyncio.run(first_message(f"{ws_url}?ticket={other['ticket']}"))  # a ticket opens its one path only
    assert msg["status"] == 401


async def _ready(url):
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        return json.loads(await ws.recv()), None


def test_revoked_keys_stop_working(auth_server):
    proc = run_cli("keys", "create", "--name", "temp", "--data-dir", str(auth_server.data_dir))
    key = proc.stdout.strip()
    with httpx.Client(base_url=auth_server.url, timeout=30, headers={"X-API-Key": key}) as c:
        assert c.get("/v1/jobs").status_code == 200
        assert run_cli("keys", "revoke", key.split("_")[1], "--data-dir", str(auth_server.data_dir)).returncode == 0
        assert c.get("/v1/jobs").status_code == 401


def test_revoking_a_key_ends_the_live_sessions_opened_with_it(auth_server, media):
    """The key was checked once, at the handshake: a live camera session opened with a key went on being analysed
    after the key was revoked, for as long as it stayed open."""
    key = run_cli("keys", "create", "--name", "live", "--data-dir", str(auth_server.data_dir)).stdout.strip()
    frame = (media / "expressions" / "happy.jpg").read_bytes()
    ws_url = auth_server.url.replace("http", "ws") + "/v1/live"

    async def go():
        async with websockets.connect(ws_url, additional_headers={"X-API-Key": key}, max_size=None) as ws:
            await ws.send(frame)
            first = json.loads(await ws.recv())
            revoked = run_cli("keys", "revoke", key.split("_")[1], "--data-dir", str(auth_server.data_dir))
            assert revoked.returncode == 0, revoked.stderr
            t0 = time.monotonic()
            try:
                while time.monotonic() - t0 < 20:
                    await ws.send(frame)
                    last = json.loads(await ws.recv())
                    await asyncio.sleep(0.3)
            except websockets.ConnectionClosed as closed:
                return first, last, closed.rcvd.code, time.monotonic() - t0
            return first, last, None, None

    first, last, code, after_s = asyncio.run(go())
    assert first["type"] == "result"
    assert code == 4401 and last["status"] == 401 and "revoked" in last["message"], (code, last)
    assert after_s < 10


def test_tickets_expire_and_cannot_be_forged():
    from affectlens.serve.tickets import Tickets

    tickets = Tickets()
    t, expires = tickets.issue("/v1/live", ttl_s=60, now=1000.0, key_id="k1")
    assert expires == 1060 and tickets.key_of(t, "/v1/live", now=1059.0) == "k1"
    assert not tickets.valid(t, "/v1/live", now=1061.0)  # expired
    assert not tickets.valid(t, "/v1/jobs/a/annotated", now=1001.0)  # another path
    assert not Tickets().valid(t, "/v1/live", now=1001.0)  # another server (secret)
    _, kid, mac = t.split(".")
    assert not tickets.valid(f"{expires + 10**6}.{kid}.{mac}", "/v1/live", now=1001.0)  # a later expiry
    assert not tickets.valid(f"{expires}.k2.{mac}", "/v1/live", now=1001.0)  # another key's name
    assert not tickets.valid("garbage", "/v1/live") and not tickets.valid(None, "/v1/live")
    assert not tickets.valid("².k1.abc", "/v1/live") and not tickets.valid(f"{expires}.k1.é", "/v1/live", now=1001.0)


def test_revoking_a_key_ends_its_tickets(tmp_path):
    from fastapi.testclient import TestClient

    from affectlens.serve import ServeSettings, create_app
    from affectlens.serve.keys import create_key, revoke_key

    app = create_app(ServeSettings(auth=True, data_dir=tmp_path, load_models=False))
    key = create_key(app.state.serve.db, "t")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        r = c.post("/v1/tickets", json={"path": "/v1/jobs/x/annotated", "ttl_s": 86400}, headers={"X-API-Key": key})
        url = r.json()["url"]
        assert c.get(url).status_code == 404  # let in (no such job), not 401
        revoke_key(app.state.serve.db, key)
        assert c.get(url).status_code == 401


def test_no_key_or_ticket_in_the_access_log(auth_server, media):
    image = (media / "expressions" / "happy.jpg").read_bytes()
    key = auth_server.key
    with httpx.Client(base_url=auth_server.url, timeout=60, headers={"X-API-Key": key}) as c:
        c.post("/v1/analyze/image", files={"file": ("h.jpg", image)})
        t = c.post("/v1/tickets", json={"path": "/v1/jobs/nosuch/annotated"}).json()
    with httpx.Client(base_url=auth_server.url, timeout=60) as c:
        assert c.get(t["url"]).status_code == 404  # the ticket let it through to the route: no such job
        assert c.get("/v1/jobs/nosuch/annotated", params={"ticket": "1.bad"}).status_code == 401
    time.sleep(0.5)
    log = auth_server.log.read_text()
    assert "GET /v1/jobs/nosuch/annotated" in log  # the access log is on
    assert key not in log and t["ticket"] not in log and "ticket=" not in log
