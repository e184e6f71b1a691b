"""The dashboard in a real headless Chromium (Debian's, driven by Playwright), fed by a fake camera.

The fake camera plays a staged one-face clip converted to Y4M; the test waits for face boxes and
numbers, exports the session CSV, runs an upload through to its charts, and opens the API docs
and the studies tab. Screenshots go to the artifacts folder. Every request must stay on the
server (no CDN) and the console must stay free of errors.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.serve.conftest import chromium_with_camera, clip_frames, write_y4m


@pytest.fixture(scope="module")
def browser(media, tmp_path_factory):
    frames = clip_frames(media / "videos" / "expressions_man.mp4", 72)
    with chromium_with_camera(write_y4m(tmp_path_factory.mktemp("cam") / "camera.y4m", frames)) as b:
        yield b


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["camera"], origin=server.url)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on(
        "request", lambda r: r.url.startswith((server.url, "data:", "blob:")) or problems.append(f"off-server: {r.url}")
    )
    yield pg
    context.close()
    assert not problems, problems


def test_live_page_shows_boxes_and_numbers_from_the_camera(page, server, artifacts):
    page.goto(f"{server.url}/#live")
    page.click("#live-start")
    page.wait_for_selector("#live-faces li[data-track]", timeout=60_000)
    page.wait_for_function("window.affectlensLive.stats().answered >= 30", timeout=60_000)
    stats = page.evaluate("window.affectlensLive.stats()")
    item = page.inner_text("#live-faces li[data-track]")
    assert "engagement" in item and any(ch.isdigit() for ch in item), item
    assert stats["faces"] >= 1 and stats["fps"] > 1, stats
    page.wait_for_selector("#live-gauge .main-svg")
    page.wait_for_selector("#live-timeline .main-svg")
    page.screenshot(path=str(artifacts / "live.png"), full_page=True)
    (artifacts / "live_browser_stats.txt").write_text(f"{stats}\n")
    # the canvas shows the camera and the drawn boxes: not a blank frame
    assert (
        page.evaluate(
            "(() => { const c = document.getElementById('live-canvas'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let s = new Set(); for (let i = 0; i < d.length; i += 997) "
            "s.add(d[i]); return s.size; })()"
        )
        > 20
    )
    with page.expect_download() as dl:
        page.click("#live-export")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert rows and {"session_time_s", "track_id", "label", "engagement", "p_happiness"} <= set(rows[0])
    page.click("#live-stop")
    page.wait_for_selector("#live-start:not([disabled])")


def test_upload_page_runs_a_video_to_its_charts(page, server, media, artifacts):
    page.goto(f"{server.url}/#upload")
    page.set_input_files("#upload-input", str(media / "videos" / "intel_two_people_head_pose.mp4"))
    page.wait_for_selector("#job-view:not([hidden]) #job-engagement .main-svg", timeout=120_000)
    page.wait_for_selector("#job-tracks tbody tr")
    assert page.locator("#job-downloads a").count() == 10
    assert page.get_attribute("#job-video", "src").endswith("/annotated")
    page.screenshot(path=str(artifacts / "upload.png"), full_page=True)


def test_docs_and_studies_pages_render_offline(page, server, artifacts):
    page.goto(f"{server.url}/docs")
    page.wait_for_selector("details.op")
    assert page.locator("details.op").count() >= 10
    page.locator("details.op").first.evaluate("d => d.open = true")
    text = page.inner_text("#docs")
    assert "[object" not in text  # request bodies render as field tables, not as stringified elements
    assert page.locator("pre.curl").count() >= 10 and "X-API-Key" in page.locator("pre.curl").first.inner_text()
    assert "-F file=@FILE" in page.locator("pre.curl").first.inner_text()  # an upload field is a file
    assert page.locator("details.op:has-text('/v1/jobs') table").count() >= 2
    page.screenshot(path=str(artifacts / "docs.png"), full_page=True)
    page.goto(f"{server.url}/#studies")
    page.wait_for_selector("#studies tbody tr")
    page.screenshot(path=str(artifacts / "studies.png"), full_page=True)


def test_studies_page_runs_a_study_and_opens_its_report(page, server, media, artifacts):
    v = media / "videos"
    with server.client() as c:
        r = c.post(
            "/v1/studies",
            data={"name": "uitest"},
            files={"stimulus": ("ad.mp4", (v / "intel_three_people_standing.mp4").read_bytes())},
        )
        assert r.status_code == 201, r.text
        r = c.post(
            "/v1/studies/uitest/recordings",
            data={"respondent": "p1", "tags": "group=a"},
            files={"file": ("rec.mp4", (v / "intel_two_people_head_pose.mp4").read_bytes())},
        )
        assert r.status_code == 201, r.text
    page.goto(f"{server.url}/#studies")
    page.click("#studies tbody tr:has-text('uitest') button")
    page.wait_for_selector("#respondents tbody tr:has-text('pending')")
    page.click("#study-run")
    page.wait_for_selector("#respondents tbody tr:has-text('done')", timeout=120_000)
    page.wait_for_selector("#study-timeline .main-svg .scatterlayer .trace")
    page.wait_for_selector("#studies tbody tr:has-text('1 done')")
    assert "affect-ens-v4-int8" in page.inner_text("#studies tbody tr:has-text('uitest')")  # the server's model
    page.screenshot(path=str(artifacts / "study.png"), full_page=True)
    href = page.get_attribute("#study-report", "href")
    assert href == "/v1/studies/uitest/report"
    page.goto(server.url + href)
    page.wait_for_load_state("load")
    assert "uitest" in page.content()
    page.screenshot(path=str(artifacts / "study_report.png"), full_page=True)


def test_studies_page_invites_lists_and_revokes_remote_respondents(page, server, media, artifacts):
    with server.client() as c, (media / "videos" / "short_hamilton_clip.mp4").open("rb") as f:
        r = c.post("/v1/studies", data={"name": "dash-invites"}, files={"stimulus": ("ad.mp4", f, "video/mp4")})
        assert r.status_code == 201, r.text
    page.goto(f"{server.url}/#studies")
    page.click("#studies tbody tr:has-text('dash-invites') button")
    page.wait_for_selector("#study-view:not([hidden]) [data-testid=invite-form]")
    form = page.locator("[data-testid=invite-form]")
    form.locator("[name=count]").fill("2")
    form.locator("[name=tags]").fill("group=a")
    assert form.locator("[name=expires]").input_value() == "7d"
    page.click("[data-testid=invite-submit]")
    links = page.locator("[data-testid=invite-links] li code")
    links.nth(1).wait_for()
    urls = links.all_inner_texts()
    assert len(urls) == 2 and all(u.startswith("http") and "/r/" in u for u in urls), urls
    assert "shown only once" in page.inner_text("#invite-result")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.click("#invite-copy-all")
    page.wait_for_selector("#invite-copy-all:text-is('Copied')")
    assert all(u in page.evaluate("navigator.clipboard.readText()") for u in urls)
    table = page.locator("[data-testid=respondents-table] tbody")
    invited = table.locator("tr[data-state=invited]")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=respondents-table] tbody tr[data-state=invited]').length === 2"
    )
    assert table.locator("tr").count() == 2
    assert invited.first.locator(".badge").inner_text() == "invited"
    assert "remote" in invited.first.inner_text() and "group=a" in invited.first.inner_text()
    assert page.inner_text("#respondent-counts") == "2 invited"
    who = invited.first.get_attribute("data-respondent")
    page.once("dialog", lambda d: d.accept())
    table.locator(f"tr[data-respondent='{who}'] button.revoke").click()
    page.wait_for_selector(
        f"[data-testid=respondents-table] tr[data-respondent='{who}']:has(.badge:text-is('revoked'))"
    )
    assert table.locator(f"tr[data-respondent='{who}'] button.revoke").count() == 0
    assert page.inner_text("#respondent-counts") == "1 invited · 1 revoked"
    with server.client() as c:
        states = {r["respondent"]: r["state"] for r in c.get("/v1/studies/dash-invites").json()["respondents"]}
    assert sorted(states.values()) == ["invited", "revoked"] and states[who] == "revoked", states
    # the tab polls every 5 s: a change made elsewhere (here: the API) shows up without a click
    other = next(r for r, st in states.items() if st == "invited")
    with server.client() as c:
        assert c.delete(f"/v1/studies/dash-invites/invites/{other}").status_code == 200
    page.wait_for_selector("#respondent-counts:text-is('2 revoked')", timeout=20_000)
    page.screenshot(path=str(artifacts / "study_invites.png"), full_page=True)


PLOTTED = "document.getElementById('live-timeline').calcdata.reduce((n, c) => n + c.length, 0)"


def test_live_page_survives_a_double_click_a_new_camera_size_and_an_unplugged_camera(page, server):
    """Four faults of the dashboard a user met: a double click on Start opened two cameras (one left on after
    Stop); the session timeline stopped drawing after its first points (its arrays grown in place); a camera that
    changed size was squeezed into the first size (stretched faces read other expressions); and an unplugged
    camera left the page "live", sending blank frames."""
    page.add_init_script(
        "(() => { window.__streams = []; const md = navigator.mediaDevices, get = md.getUserMedia.bind(md);"
        " md.getUserMedia = async (c) => { const s = await get(c); window.__streams.push(s); return s; }; })()"
    )
    page.goto(f"{server.url}/#live")
    page.dblclick("#live-start")
    page.wait_for_function("window.affectlensLive.stats().answered >= 20", timeout=60_000)
    assert page.evaluate("window.__streams.length") == 1
    page.wait_for_function(f"{PLOTTED} >= 5", timeout=30_000)
    early = page.evaluate(PLOTTED)
    page.wait_for_function(f"{PLOTTED} >= {early} + 10", timeout=30_000)  # the line goes on being drawn

    applied = page.evaluate(
        "document.getElementById('live-video').srcObject.getVideoTracks()[0]"
        ".applyConstraints({width: {exact: 640}, height: {exact: 360}}).then(() => true, () => false)"
    )
    if applied:  # the fake camera takes the new size
        page.wait_for_function("document.getElementById('live-video').videoHeight === 360", timeout=10_000)
        page.wait_for_function("document.getElementById('live-canvas').height === 360", timeout=10_000)
        assert page.evaluate("document.getElementById('live-canvas').width") == 640

    page.evaluate(
        "document.getElementById('live-video').srcObject.getVideoTracks()"
        ".forEach((t) => { t.stop(); t.dispatchEvent(new Event('ended')); })"
    )
    page.wait_for_function("document.getElementById('live-status').textContent.includes('camera disconnected')")
    page.wait_for_selector("#live-start:not([disabled])")
    assert page.evaluate("window.__streams.every((s) => s.getVideoTracks().every((t) => t.readyState === 'ended'))")
