"""Small pieces: content sniffing, the one-frame mailbox, CORS when opened, settings, the analyser pool."""

from __future__ import annotations

import asyncio

import pytest

TestClient = pytest.importorskip("fastapi.testclient").TestClient

from affectlens.errors import AffectlensError  # noqa: E402
from affectlens.serve import ServeSettings, create_app  # noqa: E402
from affectlens.serve.routes.live import LatestFrame  # noqa: E402
from affectlens.serve.uploads import sniff  # noqa: E402


def test_sniff_reads_content_not_names(media):
    assert sniff((media / "expressions" / "happy.jpg").read_bytes()[:4096]) == ("image", ".jpg")
    assert sniff((media / "bad-inputs" / "32bit.png").read_bytes()[:4096]) == ("image", ".png")
    assert sniff((media / "videos" / "expressions_man.mp4").read_bytes()[:4096]) == ("video", ".mp4")
    assert sniff(b"RIFF\0\0\0\0WEBPVP8 ") == ("image", ".webp")
    assert sniff(b"\x1a\x45\xdf\xa3....webm") == ("video", ".mkv")
    assert sniff(b"hello, I am text") is None
    assert sniff(b"") is None


def test_latest_frame_keeps_only_the_newest():
    async def go():
        box = LatestFrame()
        for i in range(5):
            box.put(bytes([i]))
        n, data, _ = await box.get()
        box.close()
        return n, data, box.dropped, await box.get()

    assert asyncio.run(go()) == (5, b"\x04", 4, None)


def test_settings_refuse_no_auth_off_loopback(tmp_path):
    with pytest.raises(AffectlensError, match="loopback"):
        ServeSettings(host="0.0.0.0", auth=False, data_dir=tmp_path).validate()
    ServeSettings(host="::1", auth=False, data_dir=tmp_path).validate()
    assert ServeSettings(host="0.0.0.0", port=81).url == "http://127.0.0.1:81/"


def test_settings_resolve_the_model_before_the_server_starts(tmp_path):
    with pytest.raises(AffectlensError, match="unknown model 'nope'"):
        ServeSettings(data_dir=tmp_path, model="nope").validate()
    assert ServeSettings(data_dir=tmp_path).validate().model == "affect-ens-v4-int8"  # the default, by name
    assert ServeSettings(data_dir=tmp_path, model="affect-cnn-x2-v1").validate().model == "affect-cnn-x2-v1"


def test_cors_opens_only_to_the_origins_given(tmp_path, media):
    s = ServeSettings(auth=False, data_dir=tmp_path, load_models=False, cors_origins=("http://app.example",))
    with TestClient(create_app(s), base_url="http://127.0.0.1") as c:
        ok = c.get("/v1/health", headers={"Origin": "http://app.example"})
        assert ok.headers["access-control-allow-origin"] == "http://app.example"
        other = c.get("/v1/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        # without models the analysis endpoint says so (503), it does not crash
        r = c.post("/v1/analyze/image", files={"file": ("h.jpg", (media / "expressions" / "happy.jpg").read_bytes())})
        assert r.status_code == 503


def test_chunked_body_over_the_limit_is_413(tmp_path):
    s = ServeSettings(auth=False, data_dir=tmp_path, load_models=False, max_upload_mb=1)
    boundary = "xyz"

    def body():  # no Content-Length: the limit is counted while the body streams in
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'.encode()
        yield b"\xff\xd8\xff"
        for _ in range(40):
            yield b"0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(create_app(s), base_url="http://127.0.0.1") as c:
        r = c.post("/v1/jobs", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert "limit of 1 MB" in r.json()["error"]["message"]  # the limit the operator set, not one with framing slack


def test_an_oversized_body_without_a_key_is_401_before_it_is_read(tmp_path):
    from affectlens.serve.keys import create_key

    s = ServeSettings(auth=True, data_dir=tmp_path, load_models=False, max_upload_mb=1)
    app = create_app(s)
    create_key(app.state.serve.db, "t")
    read = []

    def body():
        for _ in range(64):  # 4 MB declared and offered; none of it should be read
            read.append(1)
            yield b"0" * 65536

    with TestClient(app, base_url="http://127.0.0.1") as c:
        r = c.post("/v1/jobs", content=body(), headers={"content-length": str(64 * 65536)})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert len(read) <= 2  # the client may have handed over a chunk; the server drained nothing


def test_study_names_and_respondent_ids_are_checked_whole(tmp_path, monkeypatch):
    from affectlens.errors import AffectlensError
    from affectlens.studies.locations import check_name
    from affectlens.studies.privacy import check_respondent

    for bad in ("a\n", "a/b", "", ".hidden", "x" * 101):
        with pytest.raises(AffectlensError):
            check_name(bad)
    assert check_name("ad-test_2.v1") == "ad-test_2.v1"
    for bad in ("r1\nr2", "x" * 65, "a@b.example.com", "\x00"):
        with pytest.raises(AffectlensError):
            check_respondent(bad)
    assert check_respondent("  r17 ") == "r17"


def test_dashboard_assets_ship_in_the_wheel():
    """Every static file is matched by pyproject's package-data (else `pip install` serves a blank dashboard)."""
    import fnmatch
    import tomllib

    from tests.conftest import ROOT

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["affectlens"]
    static = ROOT / "src" / "affectlens" / "serve" / "static"
    files = [p.relative_to(static.parents[1]).as_posix() for p in static.iterdir()]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"add 'serve/static/*' to [tool.setuptools.package-data] affectlens; missing: {missing}"


def test_the_pool_loads_every_model_at_start_up():
    from affectlens.pipeline import Analyzer
    from affectlens.serve.inference import AnalyzerPool

    pool = AnalyzerPool(1, lambda: Analyzer(batch_frames=16))
    with pool.borrow() as an:
        loaded = vars(an)  # cached properties live in the instance once computed
        assert "detector" in loaded and "frame_detector" in loaded  # no request waits for a model to load


def test_a_duplicate_study_leaves_the_first_ones_stimulus(tmp_path, media, monkeypatch):
    """With a shared database (``--db``) the name clash is found only by the database: the upload of the
    second create must not replace the first study's stimulus on its way there."""
    monkeypatch.setenv("AFFECTLENS_HOME", str(tmp_path / "home"))
    s = ServeSettings(auth=False, data_dir=tmp_path, load_models=False, db_url=f"sqlite:///{tmp_path / 'shared.db'}")
    first = (media / "videos" / "faceapi_test_video.mp4").read_bytes()
    with TestClient(create_app(s), base_url="http://127.0.0.1") as c:
        assert c.post("/v1/studies", data={"name": "ad1"}, files={"stimulus": ("ad.mp4", first)}).status_code == 201
        other = (media / "videos" / "expressions_man.mp4").read_bytes()
        r = c.post("/v1/studies", data={"name": "ad1"}, files={"stimulus": ("b.mp4", other)})
        assert r.status_code == 409, r.text
    assert (tmp_path / "home" / "studies" / "ad1" / "uploads" / "stimulus.mp4").read_bytes() == first


def test_uploads_refused_late_leave_nothing_behind(tmp_path, media, monkeypatch):
    """A job refused once its upload is in (the queue filled meanwhile) removes its upload; an image sent
    where a video is needed is refused from its first bytes, before it is stored or decoded."""
    from affectlens.serve.errors import ApiError

    monkeypatch.setenv("AFFECTLENS_HOME", str(tmp_path / "home"))
    s = ServeSettings(auth=False, data_dir=tmp_path, load_models=False)
    photo = (media / "expressions" / "happy.jpg").read_bytes()
    with TestClient(create_app(s), base_url="http://127.0.0.1") as c:
        state = c.app.state.serve

        def full(job):
            raise ApiError(503, "64 jobs are waiting already")

        monkeypatch.setattr(state.jobs, "submit", full)
        assert c.post("/v1/jobs", files={"file": ("h.jpg", photo)}).status_code == 503
        assert not any(state.jobs_dir.iterdir()), "the refused job's upload stayed on disk"
        r = c.post("/v1/studies", data={"name": "ad1"}, files={"stimulus": ("h.jpg", photo)})
        assert r.status_code == 415 and "must be a video" in r.text
    incoming = tmp_path / "home" / "studies" / ".incoming"
    assert not incoming.exists() or not any(incoming.iterdir())


def test_respondent_pages_behind_a_proxy_may_open_their_socket(tmp_path):
    """A proxy that rewrites Host (nginx's default) still lets pages served at --public-url connect."""
    from types import SimpleNamespace

    from affectlens.serve.security import origin_allowed

    def ws(origin: str, host: str, public: str | None):
        settings = ServeSettings(data_dir=tmp_path, public_url=public)
        app = SimpleNamespace(state=SimpleNamespace(serve=SimpleNamespace(settings=settings)))
        return SimpleNamespace(headers={"origin": origin, "host": host}, app=app)

    assert origin_allowed(ws("https://study.example.org", "127.0.0.1:8000", "https://study.example.org/"))
    assert not origin_allowed(ws("https://evil.example", "127.0.0.1:8000", "https://study.example.org/"))
    assert origin_allowed(ws("http://127.0.0.1:8000", "127.0.0.1:8000", None))
    assert not origin_allowed(ws("https://study.example.org", "127.0.0.1:8000", None))


def test_a_large_upload_without_a_key_is_refused_before_it_is_parsed(tmp_path):
    """Under the size limit too: a caller without a key must not make the server parse and spool its body."""
    import asyncio

    app = create_app(ServeSettings(data_dir=tmp_path, auth=True, load_models=False))
    chunks = [b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n']
    chunks += [b"\0" * (1 << 20)] * 40 + [b"\r\n--x--\r\n"]
    total, read, sent = sum(map(len, chunks)), 0, []

    async def receive():
        nonlocal read
        chunk = chunks.pop(0)
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    headers = [(b"host", b"t"), (b"content-type", b"multipart/form-data; boundary=x")]
    scope = {"type": "http", "method": "POST", "path": "/v1/jobs", "raw_path": b"/v1/jobs", "query_string": b"",
             "headers": [*headers, (b"content-length", str(total).encode())], "scheme": "http",
             "client": ("1.2.3.4", 1), "server": ("t", 80), "root_path": "", "http_version": "1.1",
             "asgi": {"version": "3.0"}}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401 and read <= (33 << 20)  # some of it drained (so the client sees the 401)


def test_without_keys_only_this_machines_pages_may_drive_the_server(tmp_path, media):
    """--no-auth: a DNS-rebinding site (its own name in Host) and a cross-site form post are refused."""
    from starlette.websockets import WebSocketDisconnect

    s = ServeSettings(auth=False, data_dir=tmp_path, load_models=False)
    photo = {"file": ("h.jpg", (media / "expressions" / "happy.jpg").read_bytes())}
    with TestClient(create_app(s), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/v1/jobs").status_code == 200
        rebound = {"host": "rebind.attacker.example:8000"}
        assert c.get("/v1/jobs", headers=rebound).status_code == 403
        with pytest.raises(WebSocketDisconnect) as closed, c.websocket_connect("/v1/live", headers=rebound) as ws:
            ws.receive_json()
        assert closed.value.code == 4403
        cross = c.post("/v1/jobs", files=photo, headers={"origin": "https://evil.example"})
        assert cross.status_code == 403 and "may not change" in cross.json()["error"]["message"]
        own = c.post("/v1/jobs", files=photo, headers={"origin": "http://127.0.0.1:8000"})
        assert own.status_code == 202


def test_a_lower_case_bearer_key_is_a_key_for_large_uploads_too(tmp_path, media):
    from affectlens.serve.keys import create_key

    app = create_app(ServeSettings(auth=True, data_dir=tmp_path, load_models=False))
    key = create_key(app.state.serve.db, "t")
    video = {"file": ("v.mp4", (media / "videos" / "expressions_man.mp4").read_bytes())}  # > 64 kB
    with TestClient(app, base_url="http://127.0.0.1") as c:
        for scheme in ("Bearer", "bearer"):
            r = c.post("/v1/jobs", files=video, headers={"authorization": f"{scheme} {key}"})
            assert r.status_code == 202, (scheme, r.text)


class _Waiting:
    """What :class:`Sessions` needs of a respondent's session: its link's hash, its state, finish()."""

    def __init__(self, digest: str):
        self.digest, self.state, self.finished, self.beats = digest, None, 0, 0

    def finish(self):
        self.finished += 1
        self.state = "partial"
        return self.state

    def keepalive(self):
        self.beats += 1


def test_sessions_wait_the_grace_for_their_page_and_are_settled_at_a_stop():
    import time

    from affectlens.errors import Gone
    from affectlens.serve.respondent import Sessions

    sessions = Sessions(grace_s=0.3)
    a, b, c = _Waiting("a"), _Waiting("b"), _Waiting("c")
    for s, conn in ((a, "ws-a"), (b, "ws-b"), (c, "ws-c")):
        sessions.hold(s, conn)
    sessions.release(a, "ws-a", wait=True)  # dropped: waits, its rows saved at once
    sessions.release(b, "ws-b", wait=False)  # the page closed: settled at once
    assert (a.finished, b.finished, a.beats, b.beats) == (0, 1, 1, 0)
    assert sessions.resume("a", "ws-a2") == (a, None)  # back in time: the timer is off
    sessions.release(c, "ws-other", wait=True)  # not c's connection: nothing
    time.sleep(0.6)
    assert (a.finished, c.finished) == (0, 0)
    assert sessions.resume("c", "ws-c2") == (c, "ws-c")  # a takeover names the connection it replaces
    sessions.release(a, "ws-a2", wait=True)
    time.sleep(0.6)
    assert a.finished == 1  # the grace ran out
    with pytest.raises(Gone):
        sessions.resume("a", "ws-a3")
    d = _Waiting("d")  # a long grace: the waiting session's claim keeps beating
    sessions.HEARTBEAT_S, sessions.grace_s = 0.1, 0.55
    sessions.hold(d, "ws-d")
    sessions.release(d, "ws-d", wait=True)
    time.sleep(0.8)
    assert d.finished == 1 and 5 <= d.beats <= 7, d.beats
    sessions.release(c, "ws-c2", wait=True)
    sessions.close()  # the server stops: the waiting session is settled now, not left running
    assert c.finished == 1
    time.sleep(0.4)
    assert c.finished == 1  # and its timer does not settle it twice
