"""Remote respondents over the real server: invite links, the page's endpoints, the live WebSocket
protocol (camera check, start, frames stamped with the stimulus time, end or a dropped connection),
and refused links (forged, revoked, expired, reused) answered with a clear page and a 4xx."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import struct
import time

import httpx
import pytest
import websockets

from tests.serve.conftest import GRACE_S, clip_frames, copy_clip, jpeg, run_cli

STIMULUS = "expressions_man.mp4"  # 5.6 s: the respondents "watch" it while their camera shows the same clip


@pytest.fixture(scope="module")
def study(server, media, tmp_path_factory) -> dict:
    path = copy_clip(media, STIMULUS, tmp_path_factory.mktemp("stim"))
    with server.client() as c:
        with path.open("rb") as f:
            r = c.post("/v1/studies", data={"name": "remote-ad"}, files={"stimulus": (path.name, f, "video/mp4")})
        assert r.status_code == 201, r.text
        r = c.post("/v1/studies/remote-ad/invites", json={"respondents": ["r1", "r2", "r3"], "count": 2})
        assert r.status_code == 201, r.text
        links = {i["respondent"]: i["url"] for i in r.json()}
        assert r.json()[0]["expires"].endswith("Z") and len(links) == 5
    return {"links": links, "duration": r.json() and 5.6}


@pytest.fixture(scope="module")
def frames(media):
    return [jpeg(f) for f in clip_frames(media / "videos" / STIMULUS, 135)]


def token(url: str) -> str:
    return url.rsplit("/r/", 1)[1]


def ws_url(server, url: str) -> str:
    return server.url.replace("http://", "ws://") + f"/r/{token(url)}/live"


def framed(stimulus_t: float, camera_t: float, data: bytes) -> bytes:
    return struct.pack("<dd", stimulus_t, camera_t) + data


async def _watch(url: str, frames: list[bytes], until_s: float | None, fps: float = 24000 / 1001) -> list[dict]:
    """Check the camera, start, send every 4th frame stamped with its time (lockstep), then end or drop."""
    out = []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(framed(math.nan, 0.0, frames[0]))
        out.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "start"}))
        out.append(json.loads(await ws.recv()))
        for i in range(0, len(frames), 4):
            t = i / fps
            if until_s is not None and t > until_s:
                return out  # the tab closes: no "end"
            await ws.send(framed(t, t + 1.0, frames[i]))
            out.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "end", "t": len(frames) / fps}))
        out.append(json.loads(await ws.recv()))
    return out


def _respondents(server) -> dict:
    with server.client() as c:
        return {r["respondent"]: r for r in c.get("/v1/studies/remote-ad").json()["respondents"]}


def test_a_respondent_walks_the_link_to_done_and_the_link_is_used_up(server, study, frames):
    url = study["links"]["r1"]
    page = httpx.get(url)
    assert page.status_code == 200 and 'data-testid="consent"' in page.text
    info = httpx.get(f"{url}/session").json()
    assert "camera" in info["consent_text"] and info["stimulus_duration_s"] > 5
    assert httpx.get(f"{url}/stimulus").status_code == 403  # no video before consent
    assert httpx.post(f"{url}/consent").status_code == 204
    ranged = httpx.get(f"{url}/stimulus", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert _respondents(server)["r1"]["state"] == "consented"

    out = asyncio.run(_watch(ws_url(server, url), frames, until_s=None))
    check, started, *acks, saved = out
    assert check["type"] == "check" and check["faces"] == 1 and check["checks"]["face"], check
    assert started["type"] == "started"
    assert all(a["type"] == "ack" for a in acks) and all(a["faces"] == 1 for a in acks[1:]), acks[:3]  # new track
    assert saved == {"type": "saved", "state": "done"}

    r1 = _respondents(server)["r1"]
    assert (r1["state"], r1["source"]) == ("done", "remote") and r1["seconds_watched"] > 5
    with server.client() as c:
        seconds = c.get("/v1/studies/remote-ad/seconds").json()["respondent_seconds"]
    mine = [s for s in seconds if s["respondent"] == "r1"]
    assert len(mine) == 6, mine  # seconds 0-5 of the stimulus
    # the clip's expressions land on the stimulus seconds they were shown at (stamped, not arrival times)
    top = {s["second"]: s["top_emotion"] for s in mine}
    assert top[0] == "happiness" and top[2] == "sadness" and top[5] == "surprise", top

    again = httpx.get(url)
    assert again.status_code == 410 and "already been used" in again.text and "remote-ad" not in again.text
    assert httpx.get(f"{url}/stimulus").status_code == 410  # the session is over: the video goes with it


def test_a_respondent_who_leaves_half_way_is_kept_partial(server, study, frames):
    url = study["links"]["r2"]
    assert httpx.post(f"{url}/consent").status_code == 204
    asyncio.run(_watch(ws_url(server, url), frames, until_s=2.5))
    deadline = time.monotonic() + 10
    while (r2 := _respondents(server)["r2"])["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r2["state"] == "partial" and 2.0 <= r2["seconds_watched"] <= 2.6, r2
    with server.client() as c:
        report = c.get("/v1/studies/remote-ad/report")
    assert report.status_code == 200 and "still watching" in report.text


def test_no_start_without_consent_and_no_frames_before_start(server, study, frames):
    url = study["links"]["r3"]

    async def go():
        async with websockets.connect(ws_url(server, url)) as ws:
            await ws.send(framed(math.nan, 0.0, frames[0]))
            frame = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "start"}))
            first = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "end", "t": 99}))
            return frame, first, json.loads(await ws.recv())

    frame, first, second = asyncio.run(go())
    assert frame["type"] == "error" and frame["status"] == 403  # no frame is looked at before consent
    assert first["type"] == "error" and "consent" in first["message"]
    assert second["type"] == "error" and second["status"] == 409
    assert _respondents(server)["r3"]["state"] == "opened" or _respondents(server)["r3"]["state"] == "invited"


def test_forged_revoked_and_unknown_links_get_a_clear_page_and_a_4xx(server, study):
    forged = study["links"]["r3"][:-4] + "AAAA"
    r = httpx.get(forged)
    assert r.status_code == 404 and "not valid" in r.text and "text/html" in r.headers["content-type"]
    assert httpx.get(f"{server.url}/r/short").status_code == 404
    victim = next(k for k in study["links"] if k.startswith("r-"))
    with server.client() as c:
        assert c.delete(f"/v1/studies/remote-ad/invites/{victim}").json()["state"] == "revoked"
    r = httpx.get(study["links"][victim])
    assert r.status_code == 410 and "withdrawn" in r.text
    assert httpx.post(f"{study['links'][victim]}/consent").status_code == 410

    async def ws_refused():
        async with websockets.connect(ws_url(server, study["links"][victim])) as ws:
            return json.loads(await ws.recv())

    assert asyncio.run(ws_refused())["status"] == 410
    # an expired link (its expiry moved into the past in the study's database)
    late = next(k for k in study["links"] if k.startswith("r-") and k != victim)
    db = server.data_dir / "home" / "studies" / "remote-ad" / "study.db"
    with sqlite3.connect(db) as con:
        con.execute("update invites set expires_at = created_at where respondent = ?", (late,))
    r = httpx.get(study["links"][late])
    assert r.status_code == 410 and "expired" in r.text
    assert _respondents(server)[late]["state"] == "expired"
    # a forged token streams nothing either
    with httpx.Client(base_url=server.url) as c:
        assert c.get(f"/r/{token(forged)}/stimulus").status_code == 404
    log = server.log.read_text()
    assert all(token(u) not in log for u in study["links"].values()), "a link's token was written to the log"


def test_a_study_read_by_another_model_than_the_servers_refuses_live_sessions(server, study, media):
    with server.client() as c:  # a study made through the server takes the server's model
        assert c.get("/v1/studies/remote-ad").json()["model"] == "affect-ens-v4-int8"
    stim = copy_clip(media, STIMULUS, server.data_dir / "other-stim")
    env = {"AFFECTLENS_HOME": str(server.data_dir / "home")}
    made = run_cli(
        "study", "create", "other-model", "--stimulus", str(stim), "--model", "affect-cnn-x2-v1-int8", env=env
    )
    assert made.returncode == 0, made.stderr
    with server.client() as c:
        assert c.get("/v1/studies/other-model").json()["model"] == "affect-cnn-x2-v1-int8"
        r = c.post("/v1/studies/other-model/invites", json={"respondents": ["m1"]})
        assert r.status_code == 201, r.text
        url = r.json()[0]["url"]

    async def refused():
        async with websockets.connect(ws_url(server, url)) as ws:
            return json.loads(await ws.recv())

    reply = asyncio.run(refused())
    assert reply["status"] == 409 and "serve --model affect-cnn-x2-v1-int8" in reply["message"]


def _invite(server, who: str) -> str:
    with server.client() as c:
        r = c.post("/v1/studies/remote-ad/invites", json={"respondents": [who]})
        assert r.status_code == 201, r.text
    url = r.json()[0]["url"]
    assert httpx.post(f"{url}/consent").status_code == 204
    return url


async def _send(ws, frames: list[bytes], start_s: float, until_s: float, fps: float = 24000 / 1001) -> list[dict]:
    out = []
    for i in range(0, len(frames), 4):
        if start_s <= (t := i / fps) <= until_s:
            await ws.send(framed(t, t + 1.0, frames[i]))
            out.append(json.loads(await ws.recv()))
    return out


async def _start_and_drop(url: str, frames: list[bytes], until_s: float) -> list[dict]:
    """Start, watch until ``until_s``, then lose the connection without a close (the network went)."""
    ws = await websockets.connect(url, max_size=None)
    await ws.send(json.dumps({"type": "start"}))
    assert json.loads(await ws.recv())["type"] == "started"
    acks = await _send(ws, frames, 0.0, until_s)
    ws.transport.abort()
    return acks


def _state_of(server, who: str, leave: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while (r := _respondents(server)[who])["state"] == leave and time.monotonic() < deadline:
        time.sleep(0.1)
    return r


def test_a_dropped_connection_resumes_where_it_was_with_the_same_recording_and_tracks(server, study, frames):
    """A Wi-Fi blip ended the session as partial and used the link up: the page now reconnects within the grace
    and goes on; the respondent ends done, with one track across the gap."""
    url = _invite(server, "blip")

    async def go():
        first = await _start_and_drop(ws_url(server, url), frames, 2.5)
        await asyncio.sleep(GRACE_S / 4)
        assert _respondents(server)["blip"]["state"] == "running"  # waiting for the page, not settled
        async with websockets.connect(ws_url(server, url) + "?resume=1", max_size=None) as ws:
            resumed = json.loads(await ws.recv())
            rest = await _send(ws, frames, 2.6, 99.0)
            await ws.send(json.dumps({"type": "end", "t": len(frames) / (24000 / 1001)}))
            return first, resumed, rest, json.loads(await ws.recv())

    first, resumed, rest, saved = asyncio.run(go())
    assert resumed["type"] == "resumed" and 2.2 <= resumed["t"] <= 2.5, resumed
    assert all(a["type"] == "ack" for a in first + rest) and saved == {"type": "saved", "state": "done"}, saved
    r = _respondents(server)["blip"]
    assert r["state"] == "done" and r["seconds_watched"] > 5, r
    db = server.data_dir / "home" / "studies" / "remote-ad" / "study.db"
    with sqlite3.connect(db) as con:
        rid = con.execute("select id from recordings where respondent = 'blip'").fetchone()[0]
    import pandas as pd

    rows = pd.read_parquet(db.parent / "results" / f"{rid}.parquet")
    assert rows["stimulus_time_s"].min() < 0.5 and rows["stimulus_time_s"].max() > 5.0  # both sides of the gap
    assert rows["track_id"].nunique() == 1, rows["track_id"].value_counts()  # the tracker's state came back too
    assert httpx.get(url).status_code == 410  # done: the link is used up as before


def test_a_connection_that_does_not_come_back_is_settled_partial_after_the_grace(server, study, frames):
    url = _invite(server, "gone")
    asyncio.run(_start_and_drop(ws_url(server, url), frames, 1.5))
    t0 = time.monotonic()
    r = _state_of(server, "gone", leave="running")
    assert r["state"] == "partial" and 1.2 <= r["seconds_watched"] <= 1.6, r
    assert time.monotonic() - t0 >= GRACE_S * 0.5  # it waited for the page first

    async def late():
        async with websockets.connect(ws_url(server, url) + "?resume=1") as ws:
            return json.loads(await ws.recv())

    reply = asyncio.run(late())
    assert reply["type"] == "error" and reply["status"] == 410 and "too long" in reply["message"], reply


def test_a_reconnection_that_drops_at_once_leaves_its_session_to_be_settled(server, study, frames):
    """The resumed session was handed to the new connection before its guard: a reconnection that dropped again
    at once (a flaky network does) left the session owned by a dead socket, never settled, its rows unsaved."""
    url = _invite(server, "flaky")

    async def go():
        await _start_and_drop(ws_url(server, url), frames, 2.0)
        again = await websockets.connect(ws_url(server, url) + "?resume=1", max_size=None)
        again.transport.abort()

    asyncio.run(go())
    r = _state_of(server, "flaky", leave="running", timeout=GRACE_S + 10)
    assert r["state"] == "partial" and 1.7 <= r["seconds_watched"] <= 2.1, r


def test_a_reconnection_takes_over_from_a_connection_the_server_still_holds(server, study, frames):
    """The server may not notice a dead connection for a long time: the page's new one takes the session over and
    the old one is closed."""
    url = _invite(server, "twice")

    async def go():
        old = await websockets.connect(ws_url(server, url), max_size=None)
        await old.send(json.dumps({"type": "start"}))
        await old.recv()
        await _send(old, frames, 0.0, 1.0)
        async with websockets.connect(ws_url(server, url) + "?resume=1", max_size=None) as new:
            resumed = json.loads(await new.recv())
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(old.recv(), 10)
            acks = await _send(new, frames, 1.1, 2.0)
            await new.send(json.dumps({"type": "end", "t": 2.0}))
            return resumed, old.close_code, acks, json.loads(await new.recv())

    resumed, old_code, acks, saved = asyncio.run(go())
    assert resumed["type"] == "resumed" and old_code == 4001
    assert [a["type"] for a in acks] == ["ack"] * len(acks) and saved == {"type": "saved", "state": "partial"}
