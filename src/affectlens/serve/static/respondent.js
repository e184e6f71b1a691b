// A remote respondent's page: consent → camera check → the stimulus plays while camera frames are analysed → thank you.
// Every frame sent is stamped with the stimulus's playback time at capture (and the camera's own time), so
// buffering, pauses and a hidden tab leave gaps on the stimulus timeline, never shifted data. One frame is in
// flight at a time: the server acknowledges each before the next is sent (no backlog, whatever its speed).
// A connection that drops (a network blip) is tried again with the stimulus paused: the server keeps the session
// for its reconnect grace, and the page goes on where it was, with the same recording.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const base = location.pathname.replace(/\/+$/, "");
  const TARGET_FPS = 6, CHECK_FPS = 3, MAX_SIDE = 480, PROGRESS_EVERY_MS = 3000, POLL_MS = 40;
  // a frame unanswered this long means a stalled network the browser has not reported: reconnect (a connection,
  // or its "resumed", that takes this long the same)
  const STALL_MS = 8000;
  const HOLD_MS = 2000;  // a frame unanswered this long: the stimulus waits (not seen unanalysed) until it is
  const stats = { sent: 0, acked: 0, checks: 0, errors: 0, cameraStartedAt: null, stimulusStartedAt: null, state: "consent",
                  rttSumMs: 0, rttMaxMs: 0 };
  let sentAt = -1e9;
  let ws = null, stream = null, inFlight = false, lastCheck = null, okStreak = 0, maxT = 0, ended = false, captureTimer = null;
  let progressTimer = null, loadTries = 0, settled = false;  // settled: the page has said its last word
  let reconnecting = false, droppedAt = 0, reconnectTries = 0, graceMs = 30000, endSentAt = null, watchdogTimer = null;
  let held = false;  // the stimulus waits for a late answer
  const waiting = () => reconnecting || held;
  // what a respondent reads when the study cannot go on for a reason only its organisers can mend (the server's
  // own message is for them: it names a command to run)
  const UNAVAILABLE = "This study is not available right now. Please contact the study's organisers; you can close this page.";
  const LOST = "The connection was lost. What you watched so far is saved — thank you.";

  function show(step) {
    for (const s of ["consent", "check", "watch", "done"]) $(`step-${s}`).hidden = s !== step;
    stats.state = step;
    const h = $(`step-${step}`).querySelector("h1");  // keyboard and screen-reader users land on the new step
    if (h && step !== "consent") { h.tabIndex = -1; h.focus(); }
  }
  function finish(text) {
    ended = settled = true;
    if (captureTimer) clearInterval(captureTimer);
    if (progressTimer) clearInterval(progressTimer);
    if (watchdogTimer) clearInterval(watchdogTimer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    const v = $("stimulus");  // a hidden <video> keeps playing, sound and all
    if (v.getAttribute("src")) { v.pause(); v.removeAttribute("src"); v.load(); }
    if (text) $("done-text").textContent = text;
    show("done");
  }

  async function load() {
    let r;
    try { r = await fetch(`${base}/session`, { cache: "no-store" }); } catch (e) { r = null; }
    if (r && (r.status === 404 || r.status === 410)) {  // a link that opens nothing: say why, once
      const body = await r.json().catch(() => ({}));
      finish(body.message || "This link is not valid.");
      return;
    }
    if (!r || !r.ok) {  // the server restarting, a proxy's 502, the network: try again, more slowly each time
      const wait = Math.min(30, 2 ** loadTries++);
      $("consent-text").textContent = `The study could not be loaded; trying again in ${wait} s…`;
      setTimeout(() => load(), wait * 1000);
      return;
    }
    const info = await r.json();
    if (info.reconnect_grace_s !== undefined) graceMs = info.reconnect_grace_s * 1000;
    $("consent-text").textContent = info.consent_text;
    $("agree").disabled = false;
  }

  async function agree() {
    $("agree").disabled = true;
    const r = await fetch(`${base}/consent`, { method: "POST" });
    if (!r.ok) { $("consent-error").hidden = false; $("consent-error").textContent = "This link can no longer be used."; return; }
    show("check");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (e) {
      $("check-hint").textContent = "The camera could not be opened: allow camera access for this page, then reload it.";
      return;
    }
    const cam = $("camera");
    cam.srcObject = stream;
    cam.addEventListener("playing", () => { if (stats.cameraStartedAt === null) stats.cameraStartedAt = performance.now(); }, { once: true });
    await cam.play();
    connect();
  }

  function connect(resume = false) {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const sock = new WebSocket(`${proto}${location.host}${base}/live${resume ? "?resume=1" : ""}`);
    ws = sock;
    sock.binaryType = "arraybuffer";
    setTimeout(() => {  // still connecting, or connected and never resumed: give this one up, try the next
      if (sock === ws && !settled && (sock.readyState === WebSocket.CONNECTING || (resume && reconnecting))) {
        abandon(sock, resume);
      }
    }, STALL_MS + 2000);
    sock.onopen = () => {
      inFlight = false;
      if (!captureTimer) captureTimer = setInterval(tick, POLL_MS);
      if (!resume) reconnecting = false;  // a camera check goes on at once; a watch waits for "resumed"
    };
    sock.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    sock.onclose = (ev) => {
      if (settled || sock !== ws) return;  // a connection already given up on
      if (ev.code === 4001 && stats.state === "watch") reconnect(true);  // taken over by a late try of ours: back
      else if (ev.code >= 4000 || ev.code === 1011) finish(UNAVAILABLE);  // refused by the server: a reload cannot help
      else if (stats.state === "watch" || stats.state === "check") reconnect(stats.state === "watch");
    };
  }

  // Leave a connection that stalls without closing (the server keeps the session waiting: not a close of ours)
  function abandon(sock, resume) {
    ws = null;
    try { sock.close(3000, "stalled"); } catch (e) { /* already closing */ }
    reconnect(resume);
  }

  // Try again, more slowly each time, until the server's grace is over; the stimulus waits meanwhile.
  function reconnect(resume) {
    if (!reconnecting) {
      reconnecting = true; droppedAt = performance.now(); reconnectTries = 0; stats.reconnects = (stats.reconnects || 0) + 1;
      if (resume) { $("stimulus").pause(); $("watch-note").textContent = "Connection lost — reconnecting…"; }
      else $("check-hint").textContent = "Connection lost — reconnecting…";
    }
    if (performance.now() - droppedAt > graceMs + 5000) {
      if (resume) finish(LOST);
      else $("check-hint").textContent = "The connection to the study was lost: check your network, then reload this page.";
      return;
    }
    setTimeout(() => { if (!settled) connect(resume); }, Math.min(8000, 500 * 2 ** reconnectTries++));
  }

  function onMessage(m) {
    if (m.type === "check") { inFlight = false; stats.checks++; lastCheck = m; drawCheck(m); }
    else if (m.type === "ack") {
      inFlight = false; stats.acked++;
      if (held) release();
      const rtt = performance.now() - sentAt;
      stats.rttSumMs += rtt; stats.rttMaxMs = Math.max(stats.rttMaxMs, rtt);
    }
    else if (m.type === "started") play();
    else if (m.type === "resumed") resumed();
    else if (m.type === "saved") finish();
    else if (m.type === "error") {
      inFlight = false; stats.errors++;
      if (held) release();  // an answer all the same: the stimulus goes on
      if (m.status === 410 && ended) finish();  // back after the end: the end was saved meanwhile
      else if (m.status === 410 || m.status === 404) finish(m.message);
      else if (m.status === 409 || m.status >= 500) finish(UNAVAILABLE);
    }
  }

  function drawCheck(m) {
    const checks = m.checks || { face: false, light: false, centred: false, near: false };
    for (const k of ["face", "light", "centred", "near"]) $(`c-${k}`).classList.toggle("ok", !!checks[k]);
    $("check-hint").textContent = m.hint;
    okStreak = m.ok ? okStreak + 1 : 0;
    $("start").disabled = okStreak < 2;
  }

  function cameraTime() { return $("camera").currentTime; }

  // Draw the camera into the grab canvas; returns the encoded JPEG with its 16-byte header (stimulus t, camera t).
  function grab(stimulusT) {
    const cam = $("camera"), g = $("grab");
    const s = Math.min(1, MAX_SIDE / Math.max(cam.videoWidth, cam.videoHeight));
    g.width = Math.round(cam.videoWidth * s); g.height = Math.round(cam.videoHeight * s);
    g.getContext("2d").drawImage(cam, 0, 0, g.width, g.height);
    const header = new DataView(new ArrayBuffer(16));
    header.setFloat64(0, stimulusT, true);
    header.setFloat64(8, cameraTime(), true);
    return new Promise((resolve) => g.toBlob((b) => resolve(b ? new Blob([header.buffer, b]) : null), "image/jpeg", 0.8));
  }

  // At most `fps` frames a second, and the next only once the last is acknowledged (polled every POLL_MS, so a
  // slow answer delays the next frame by at most POLL_MS instead of skipping a whole frame period).
  async function send(stimulusT, fps) {
    if (!ws || ws.readyState !== WebSocket.OPEN || inFlight || !$("camera").videoWidth) return;
    if (performance.now() - sentAt < 1000 / fps - POLL_MS / 2) return;  // the poll tick nearest the period
    inFlight = true;
    sentAt = performance.now();
    const blob = await grab(stimulusT);
    const data = blob ? await blob.arrayBuffer() : null;
    if (!data || !ws || ws.readyState !== WebSocket.OPEN || ended) { inFlight = false; return; }  // closed meanwhile
    ws.send(data);
    stats.sent++;
  }

  // A frame (or the final "end") unanswered for STALL_MS: the network stalled and the browser has not said so.
  function watchdog() {
    if (!ws || reconnecting || settled) return;
    if (stats.state === "watch" && inFlight && !held && performance.now() - sentAt > HOLD_MS) {
      held = true; $("stimulus").pause(); $("watch-note").textContent = "Waiting for the connection…";
    }
    const since = endSentAt !== null ? endSentAt : inFlight ? sentAt : null;
    if (since !== null && performance.now() - since > STALL_MS) {
      stats.stalls = (stats.stalls || 0) + 1;
      endSentAt = null;
      abandon(ws, stats.state === "watch");
    }
  }

  function sendEnd(t) {
    endSentAt = performance.now();
    ws.send(JSON.stringify({ type: "end", t }));
  }

  function tick() {
    if (stats.state === "check") { send(NaN, CHECK_FPS); preview(); return; }
    const v = $("stimulus");
    const playing = !v.paused && !v.ended && !v.seeking && v.readyState >= 3 && !document.hidden;
    if (playing) { maxT = Math.max(maxT, v.currentTime); send(v.currentTime, TARGET_FPS); }
  }

  function preview() {
    const c = $("check-canvas"), cam = $("camera"), ctx = c.getContext("2d");
    if (!cam.videoWidth) return;
    c.width = cam.videoWidth; c.height = cam.videoHeight;
    ctx.drawImage(cam, 0, 0);
    if (lastCheck && lastCheck.box) {
      const k = cam.videoWidth / lastCheck.width, [x1, y1, x2, y2] = lastCheck.box.map((x) => x * k);
      ctx.lineWidth = 4; ctx.strokeStyle = lastCheck.ok ? "#2da44e" : "#d29922";
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    }
  }

  function release() {  // the answer came: the stimulus goes on
    held = false;
    $("watch-note").textContent = "";
    const v = $("stimulus");
    if (!v.ended && !document.hidden && !reconnecting) v.play().catch(() => {});
  }

  function resumed() {
    reconnecting = false; held = false;
    $("watch-note").textContent = "";
    const v = $("stimulus");
    if (v.ended) sendEnd(v.duration);  // it ended while the connection was down
    else if (!document.hidden) v.play().catch(() => {});
  }

  function start() {
    $("start").disabled = true;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "start" }));
    else $("start").disabled = false;
  }

  function play() {
    show("watch");
    clearInterval(captureTimer);
    const v = $("stimulus");
    v.src = `${base}/stimulus`;
    v.addEventListener("playing", () => { if (stats.stimulusStartedAt === null) stats.stimulusStartedAt = performance.now(); });
    v.addEventListener("seeking", () => { if (Math.abs(v.currentTime - maxT) > 0.5) v.currentTime = maxT; }); // no skipping
    v.addEventListener("waiting", () => { $("watch-note").textContent = "Loading…"; });
    v.addEventListener("playing", () => { $("watch-note").textContent = ""; });
    v.addEventListener("error", () => {  // the stimulus cannot be played: settle what there is, say so
      if (ended) return;
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "end", t: maxT }));
      finish("The video could not be played on this device. Thank you for your time; you can close this page.");
    });
    v.addEventListener("ended", () => {
      ended = true;
      clearInterval(captureTimer);
      if (ws && ws.readyState === WebSocket.OPEN && !reconnecting) sendEnd(v.duration);
      else if (!reconnecting) finish(LOST);  // else sent once the page has reconnected
    });
    document.addEventListener("visibilitychange", () => {
      if (ended) return;
      if (document.hidden) v.pause(); else if (!waiting()) v.play().catch(() => {});
    });
    v.addEventListener("play", () => { if (waiting()) v.pause(); });  // the controls shown when autoplay was blocked
    v.addEventListener("pause", () => { if (!ended && !document.hidden && !waiting()) v.play().catch(() => {}); });
    progressTimer = setInterval(() => {
      if (!ended && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "progress", t: maxT }));
    }, PROGRESS_EVERY_MS);
    captureTimer = setInterval(tick, POLL_MS);
    watchdogTimer = setInterval(watchdog, 250);
    v.play().catch(() => {  // autoplay blocked (not a broken video: that is the error event above)
      if (!ended && !v.error) { $("watch-note").textContent = "Press play to start"; v.controls = true; }
    });
  }

  $("agree").addEventListener("click", agree);
  $("start").addEventListener("click", start);
  window.affectlensRespondent = { stats: () => ({ ...stats, maxT }) };
  load().catch(() => { $("consent-text").textContent = "The study could not be loaded: check your connection and reload."; });
})();
