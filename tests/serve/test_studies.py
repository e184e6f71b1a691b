"""Studies over HTTP: create by upload, add recordings, run, per-second aggregates, the HTML report."""

from __future__ import annotations

import re
import time

VIDEOS = "videos"


def _wait_idle(c, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = c.get(f"/v1/studies/{name}").json()
        if not info["running"] and not info["counts"].get("pending") and not info["counts"].get("running"):
            return info
        time.sleep(0.5)
    raise AssertionError(f"study {name} still busy: {info}")


def test_study_walkthrough_over_http(server, media):
    v = media / VIDEOS
    with server.client() as c:
        r = c.post(
            "/v1/studies",
            data={"name": "adtest"},
            files={"stimulus": ("ad.mp4", (v / "intel_three_people_standing.mp4").read_bytes())},
        )
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "adtest" and r.json()["stimulus_duration_s"] > 3
        again = c.post("/v1/studies", data={"name": "adtest"}, files={"stimulus": ("ad.mp4", b"x")})
        assert again.status_code == 409

        for respondent, clip, tags in (
            ("r1", "intel_two_people_head_pose.mp4", "group=a"),
            ("r2", "faceapi_test_video.mp4", "group=b"),
        ):
            r = c.post(
                "/v1/studies/adtest/recordings",
                data={"respondent": respondent, "offset_s": "0", "tags": tags},
                files={"file": (clip, (v / clip).read_bytes())},
            )
            assert r.status_code == 201, r.text
        dup = c.post(
            "/v1/studies/adtest/recordings",
            data={"respondent": "r1"},
            files={"file": ("x.mp4", (v / "expressions_man.mp4").read_bytes())},
        )
        assert dup.status_code == 409
        text = c.post("/v1/studies/adtest/recordings", data={"respondent": "r9"}, files={"file": ("a.mp4", b"hi\n")})
        assert text.status_code == 415
        assert c.get("/v1/studies/nosuch").status_code == 404
        assert c.post("/v1/studies/nosuch/run").status_code == 404

        info = c.get("/v1/studies/adtest").json()
        assert [(r["respondent"], r["status"], r["tags"]) for r in info["respondents"]] == [
            ("r1", "pending", {"group": "a"}),
            ("r2", "pending", {"group": "b"}),
        ]
        assert c.post("/v1/studies/adtest/run").status_code == 202
        info = _wait_idle(c, "adtest")
        assert info["counts"] == {"done": 2}, info
        assert any(s["name"] == "adtest" for s in c.get("/v1/studies").json())

        seconds = c.get("/v1/studies/adtest/seconds").json()
        assert len(seconds["timeline"]) >= 3 and "second" in seconds["timeline"][0]
        assert {r["respondent"] for r in seconds["respondent_seconds"]} <= {"r1", "r2"}

        report = c.get("/v1/studies/adtest/report")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert "adtest" in report.text
        assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', report.text)


def test_uploaded_recordings_are_not_kept_and_respondents_can_be_erased(server, media):
    v = media / VIDEOS
    home = server.data_dir / "home" / "studies" / "privhttp"
    with server.client() as c:
        stim = (v / "intel_classroom_four_people.mp4").read_bytes()
        r = c.post("/v1/studies", data={"name": "privhttp"}, files={"stimulus": ("ad.mp4", stim)})
        assert r.status_code == 201, r.text
        for respondent, clip in (("gone-r1", "expressions_man.mp4"), ("kept-r2", "intel_two_people_head_pose.mp4")):
            r = c.post(
                "/v1/studies/privhttp/recordings",
                data={"respondent": respondent, "consent": "true"},
                files={"file": (clip, (v / clip).read_bytes())},
            )
            assert r.status_code == 201, r.text
        bad = c.post(
            "/v1/studies/privhttp/recordings",
            data={"respondent": "r3", "tags": "email=jane@example.com"},
            files={"file": ("x.mp4", (v / "faceapi_test_video.mp4").read_bytes())},
        )
        assert bad.status_code == 422 and "pseudonym" in bad.json()["error"]["message"]
        assert c.post("/v1/studies/privhttp/run").status_code == 202
        assert _wait_idle(c, "privhttp")["counts"] == {"done": 2}
        videos = [p for p in (home / "uploads").iterdir() if p.name.startswith("rec-")]
        assert videos == [], "an uploaded recording was kept after processing"

        r = c.delete("/v1/studies/privhttp/respondents/gone-r1")
        assert r.status_code == 200 and r.json()["recordings"] == 1, r.text
        assert c.delete("/v1/studies/privhttp/respondents/gone-r1").status_code == 404
        info = c.get("/v1/studies/privhttp").json()
        assert [x["respondent"] for x in info["respondents"]] == ["kept-r2"]
        assert "gone-r1" not in c.get("/v1/studies/privhttp/report").text
        assert not [p for p in home.rglob("*") if p.is_file() and b"gone-r1" in p.read_bytes()]
        assert c.delete("/v1/studies/privhttp").status_code == 200
        assert c.get("/v1/studies/privhttp").status_code == 404
