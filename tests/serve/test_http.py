"""The HTTP API of a real server: image analysis, bad input → 4xx JSON, offline dashboard, CORS."""

from __future__ import annotations

import io
import os
import re

import pytest
from PIL import Image

from tests.serve.conftest import run_cli


def error_of(r) -> dict:
    assert r.headers["content-type"].startswith("application/json"), r.text[:200]
    body = r.json()
    assert set(body["error"]) >= {"status", "code", "message"}
    assert body["error"]["status"] == r.status_code
    return body["error"]


def test_image_endpoint_reads_the_happy_face_with_pipeline_columns(server, media):
    from affectlens.pipeline import Analyzer
    from affectlens.sources import load_image

    path = media / "expressions" / "happy.jpg"
    with server.client() as c:
        r = c.post("/v1/analyze/image", files={"file": ("happy.jpg", path.read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "happy.jpg" and body["width"] > 0 and len(body["labels"]) == 8
    best = max(body["faces"], key=lambda f: f["score"])
    assert best["label"] == "happiness"
    expected = Analyzer().analyze_image(load_image(path), name="happy.jpg").rows()
    assert [list(f) for f in body["faces"]] == [list(row) for row in expected]  # same columns, same order
    assert best["engagement"] == pytest.approx(max(expected, key=lambda f: f["score"])["engagement"], abs=1e-3)


def test_image_endpoint_finds_every_face_of_a_group_photo(server, media):
    with server.client() as c:
        r = c.post("/v1/analyze/image", files={"file": ("x.png", (media / "photos" / "bbt1.jpg").read_bytes())})
    assert r.status_code == 200
    faces = r.json()["faces"]
    assert len(faces) >= 2 and [f["track_id"] for f in faces] == list(range(len(faces)))


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("fake.jpg", b"not an image\n", 415, "unsupported_media_type"),
        ("empty.jpg", b"", 422, "empty"),
        ("truncated.jpg", None, 422, "corrupt"),  # a JPEG cut after its first KB
        ("clip.jpg", None, 415, "unsupported_media_type"),  # a video named .jpg
        ("huge.png", None, 413, "too_large"),  # 70 MP in a 150 KB file: refused before decoding
    ],
)
def test_image_endpoint_refuses_bad_uploads_by_content(server, media, name, content, status, code):
    if name == "truncated.jpg":
        content = (media / "expressions" / "sad.jpg").read_bytes()[:1024]
    if name == "clip.jpg":
        content = (media / "videos" / "faceapi_test_video.mp4").read_bytes()
    if name == "huge.png":
        buf = io.BytesIO()
        Image.new("L", (10_000, 7_000)).save(buf, "PNG")
        content = buf.getvalue()
    with server.client() as c:
        r = c.post("/v1/analyze/image", files={"file": (name, content, "image/jpeg")})
    assert r.status_code == status, r.text
    assert error_of(r)["code"] == code


def test_missing_field_and_unknown_routes_are_4xx_json(server):
    with server.client() as c:
        r = c.post("/v1/analyze/image", data={"other": "x"})
        assert r.status_code == 422 and "file" in error_of(r)["message"]
        r = c.post("/v1/analyze/image", content=b"raw bytes", headers={"content-type": "application/octet-stream"})
        assert r.status_code == 422
        r = c.get("/v1/nothing-here")
        assert r.status_code == 404 and error_of(r)["code"] == "not_found"
        r = c.put("/v1/jobs")
        assert r.status_code == 405
        r = c.get("/v1/jobs/not-a-job")
        assert r.status_code == 404
        r = c.get("/v1/jobs/not-a-job/results/faces", params={"format": "xlsx"})
        assert r.status_code == 422


def test_oversized_upload_is_413_before_it_is_stored(server):
    big = os.urandom(4 << 20)  # the fixture's limit is 3 MB
    jobs = server.data_dir / "jobs"
    before = set(jobs.iterdir()) if jobs.exists() else set()
    with server.client() as c:
        for path in ("/v1/analyze/image", "/v1/jobs"):
            r = c.post(path, files={"file": ("big.jpg", b"\xff\xd8\xff" + big, "image/jpeg")})
            assert r.status_code == 413, r.text
            assert error_of(r)["code"] == "too_large"
    assert (set(jobs.iterdir()) if jobs.exists() else set()) == before  # nothing stored


def test_corrupt_videos_are_refused_at_upload(server, media):
    clip = (media / "videos" / "intel_two_people_head_pose.mp4").read_bytes()
    with server.client() as c:
        r = c.post("/v1/jobs", files={"file": ("cut.mp4", clip[:2000], "video/mp4")})  # header, no frames
        assert r.status_code == 422 and error_of(r)["code"] == "corrupt"
        r = c.post("/v1/jobs", files={"file": ("noise.mp4", os.urandom(50_000), "video/mp4")})
        assert r.status_code == 415
        r = c.post("/v1/jobs", files={"file": ("notes.mp4", b"hello\n" * 100, "video/mp4")})
        assert r.status_code == 415 and "text" in error_of(r)["message"]


def test_dashboard_pages_load_nothing_from_the_network(server):
    with server.client() as c:
        for page in ("/", "/docs"):
            r = c.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert not re.findall(r'(?:src|href)="(?:https?:)?//', r.text), page
            for asset in re.findall(r'(?:src|href)="(/[^"]+)"', r.text):
                assert c.get(asset).status_code == 200, asset
        js = c.get("/vendor/plotly.min.js")
        assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
        for script in ("common.js", "live.js", "upload.js", "studies.js", "docs.js"):
            body = c.get(f"/static/{script}").text
            assert "http://" not in body and "https://" not in body, script
        spec = c.get("/openapi.json").json()
        assert {"/v1/analyze/image", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/studies"} <= set(spec["paths"])


def test_cors_is_closed_by_default(server):
    with server.client() as c:
        r = c.options(
            "/v1/analyze/image",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in r.headers
        r = c.get("/v1/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_no_auth_is_refused_off_loopback():
    proc = run_cli("serve", "--host", "0.0.0.0", "--no-auth", "--port", "9")
    assert proc.returncode == 1 and "loopback" in proc.stderr
