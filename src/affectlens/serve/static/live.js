// Live tab: the browser camera → WS /v1/live (JPEG frames) → boxes, labels, top-3, sparklines, gauge, timeline.
"use strict";
(() => {
  const MAX_ROWS = 200000;  // rows the session CSV keeps in the browser
  const $ = (id) => document.getElementById(id);
  const MAX_IN_FLIGHT = 2; // frames sent and not yet answered (the server keeps only the newest anyway)
  const HISTORY = 60; // sparkline points per face
  const TIMELINE_S = 120; // seconds of session the timeline shows (and keeps); a face gone longer is dropped from it
  let ws = null, stream = null, running = false, starting = false, muted = false;
  let sent = 0, answered = 0, results = 0, dropped = 0, t0 = 0;
  let faces = [], frameW = 640, frameH = 480;
  const sentAt = new Map(), latencies = [], resultTimes = [], rows = [];
  const spark = new Map(); // track id → engagement history
  const timeline = new Map(); // track id → {x: [], y: []}
  let lastChart = 0;
  const grab = document.createElement("canvas");

  function status(text, cls = "muted") { const s = $("live-status"); s.textContent = text; s.className = cls; }

  async function start() {
    if (starting || stream) return;  // a double click opened two cameras, one left on after Stop
    starting = true;
    $("live-start").disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (e) { status(`camera refused or missing: ${e.message}`, "error"); $("live-start").disabled = false; return; }
    finally { starting = false; }
    const video = $("live-video");
    video.srcObject = stream;
    await video.play();
    fitCanvases();
    for (const track of stream.getVideoTracks()) {  // unplugged or taken by another app: say so, stop sending
      track.addEventListener("ended", () => { if (running) { stop(); status("camera disconnected", "error"); } });
      track.addEventListener("mute", () => { muted = true; status("camera paused (no picture)", "muted"); });
      track.addEventListener("unmute", () => { muted = false; if (running) { status("live", "state-done"); pump(); } });
    }
    sent = answered = results = dropped = 0; sentAt.clear(); latencies.length = 0; resultTimes.length = 0; rows.length = 0;
    spark.clear(); timeline.clear(); faces = []; muted = false;
    const exp = $("live-export");  // a new session's export is whole again
    delete exp.dataset.capped; exp.textContent = "Export session CSV"; exp.title = "";
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    try { ws = new WebSocket(await AL.ticketed(`${proto}${location.host}/v1/live`)); }
    catch (e) { status(`cannot open the live session: ${e.message}`, "error"); stopCamera(); return; }
    ws.onopen = () => { running = true; t0 = performance.now(); status("live", "state-done"); pump(); };
    ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    ws.onclose = (ev) => { if (running || ev.code >= 4000) status(`disconnected${ev.reason ? `: ${ev.reason}` : ""}`, ev.code >= 4000 ? "error" : "muted"); stopCamera(); };
    $("live-start").disabled = true; $("live-stop").disabled = false; $("live-export").disabled = false;
    requestAnimationFrame(draw);
  }

  function stopCamera() {
    running = false;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("live-start").disabled = false; $("live-stop").disabled = true;
  }

  function stop() { if (ws) ws.close(1000, "stopped"); stopCamera(); status(`stopped after ${results} analysed frames`); }

  // The capture and display canvases follow the camera's size: a rotated phone or a renegotiated resolution was
  // squeezed into the first size, and stretched faces read other expressions.
  function fitCanvases() {
    const video = $("live-video"), w = video.videoWidth || 640, h = video.videoHeight || 480;
    if (w === frameW && h === frameH && grab.width === w) return;
    frameW = w; frameH = h;
    grab.width = w; grab.height = h;
    const canvas = $("live-canvas");
    canvas.width = w; canvas.height = h;
    faces = [];  // boxes of the old size
  }

  function pump() {
    while (running && !muted && ws && ws.readyState === 1 && sent - answered < MAX_IN_FLIGHT) {
      fitCanvases();
      const n = ++sent;
      grab.getContext("2d").drawImage($("live-video"), 0, 0, frameW, frameH);
      grab.toBlob((blob) => {
        if (!running || !blob || ws.readyState !== 1) return;
        sentAt.set(n, performance.now());
        ws.send(blob);
      }, "image/jpeg", 0.75);
    }
  }

  function onMessage(msg) {
    if (msg.type === "ready" || msg.frame === undefined) {
      if (msg.type === "error") status(msg.message, "error");
      return;
    }
    const now = performance.now();
    answered = Math.max(answered, msg.frame);
    for (const k of [...sentAt.keys()]) if (k < msg.frame) sentAt.delete(k);
    if (sentAt.has(msg.frame)) { latencies.push(now - sentAt.get(msg.frame)); sentAt.delete(msg.frame); }
    if (latencies.length > 300) latencies.shift();
    if (msg.type === "error") { status(msg.message, "error"); pump(); return; }
    results++;
    resultTimes.push(now);
    while (resultTimes.length && now - resultTimes[0] > 3000) resultTimes.shift();
    dropped = msg.dropped;
    faces = msg.faces;
    // the server's session clock (when it received the frame), the time_s of every row: one clock in the CSV
    const t = typeof msg.time_s === "number" ? msg.time_s : (now - t0) / 1000;
    for (const f of faces) {
      const h = spark.get(f.track_id) || [];
      h.push(f.engagement ?? null);
      if (h.length > HISTORY) h.shift();
      spark.set(f.track_id, h);
      const tl = timeline.get(f.track_id) || { x: [], y: [] };
      tl.x.push(t); tl.y.push(f.engagement ?? null);
      while (tl.x.length && tl.x[0] < t - TIMELINE_S) { tl.x.shift(); tl.y.shift(); }
      timeline.set(f.track_id, tl);
      const { top3, ...row } = f;
      rows.push({ session_time_s: Number(t.toFixed(3)), ...row });
    }
    if (rows.length > MAX_ROWS) {  // ~100 min of one face at 33 frames/s: keep the latest, and say so
      rows.splice(0, rows.length - MAX_ROWS);
      const b = $("live-export");
      if (!b.dataset.capped) {
        b.dataset.capped = "1";
        b.textContent = "Export the latest 200,000 rows (CSV)";
        b.title = "The session is longer than the browser keeps: its start is no longer in the export.";
      }
    }
    renderFaces();
    if (now - lastChart > 500) { lastChart = now; renderCharts(t); }
    pump();
  }

  function percentile(a, p) {
    if (!a.length) return NaN;
    const s = [...a].sort((x, y) => x - y);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  }

  function stats() {
    const span = resultTimes.length > 1 ? (resultTimes.at(-1) - resultTimes[0]) / 1000 : 0;
    return {
      fps: span > 0 ? (resultTimes.length - 1) / span : 0,
      p50_ms: percentile(latencies, 50), p95_ms: percentile(latencies, 95),
      sent, answered, dropped, faces: faces.length, rows: rows.length,
    };
  }

  function renderFaces() {
    const list = $("live-faces");
    list.replaceChildren(...(faces.length ? faces.map((f) => AL.el("li", { "data-track": f.track_id, style: `border-left-color:${AL.color(f.track_id)}` },
      AL.el("strong", {}, `#${f.track_id} ${f.label}`), " · engagement ",
      AL.el("span", { class: "engagement" }, AL.fmt(f.engagement, 0)),
      f.state ? AL.el("span", { class: f.state === "engaged" ? "state-done" : f.state === "unknown" ? "state-pending" : "state-failed" }, ` · ${f.state}${f.state_reason ? ` (${f.state_reason.replace("_", " ")})` : ""}`) : null,
      AL.el("div", { class: "top3" }, f.top3.flatMap(([c, p]) => [
        AL.el("span", {}, c), AL.el("div", { class: "bar" }, AL.el("span", { style: `width:${(p * 100).toFixed(0)}%` })), AL.el("span", {}, AL.fmt(p)),
      ])),
    )) : [AL.el("li", { class: "muted" }, "no face")]));
    const s = stats();
    $("live-stats").textContent = `${AL.fmt(s.fps, 1)} frames/s · latency p50 ${AL.fmt(s.p50_ms, 0)} ms, p95 ${AL.fmt(s.p95_ms, 0)} ms · ${s.dropped} dropped by the server`;
  }

  function renderCharts(t) {
    if (typeof Plotly === "undefined") return;
    // no face is not zero engagement: the gauge says "no face" and shows no bar
    // a face the mesh cannot read (state unknown, engagement null) is left out of the mean, not read as 0
    const read = faces.filter((f) => typeof f.engagement === "number");
    const mean = read.length ? read.reduce((a, f) => a + f.engagement, 0) / read.length : 0;
    const title = faces.length ? (read.length ? "" : "face unreadable") : "no face";
    const gauge = [{ type: "indicator", mode: read.length ? "gauge+number" : "gauge", value: mean,
      number: { valueformat: ".0f" }, title: { text: title, font: { size: 22 } },
      gauge: { axis: { range: [0, 100] }, bar: { color: read.length ? "#3fa7ff" : "rgba(0,0,0,0)" }, steps: [{ range: [0, 40], color: "#3a2424" }, { range: [40, 70], color: "#3a3624" }, { range: [70, 100], color: "#243a2c" }] } }];
    Plotly.react("live-gauge", gauge, AL.plotLayout({ margin: { l: 25, r: 25, t: 10, b: 10 } }), { displayModeBar: false, staticPlot: true });
    for (const [id, d] of timeline) if (!d.x.length || d.x.at(-1) < t - TIMELINE_S) { timeline.delete(id); spark.delete(id); }
    // copies: Plotly.react redraws only data it has not seen (the same arrays grown in place read as unchanged)
    const traces = [...timeline.entries()].map(([id, d]) => ({ x: d.x.slice(), y: d.y.slice(), name: `#${id}`, mode: "lines", line: { color: AL.color(id) } }));
    Plotly.react("live-timeline", traces, AL.plotLayout({ xaxis: { title: "session time (s)", range: [Math.max(0, t - 120), Math.max(10, t)] }, yaxis: { title: "engagement", range: [0, 100] } }), { displayModeBar: false });
  }

  function draw() {
    const canvas = $("live-canvas"), ctx = canvas.getContext("2d"), video = $("live-video");
    if (stream) ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const scale = Math.max(canvas.width / 640, 0.6);
    ctx.font = `${Math.round(13 * scale)}px system-ui, sans-serif`;
    for (const f of faces) {
      const col = AL.color(f.track_id), w = f.x2 - f.x1;
      ctx.strokeStyle = col; ctx.lineWidth = 2 * scale;
      ctx.strokeRect(f.x1, f.y1, w, f.y2 - f.y1);
      const lines = [`#${f.track_id} ${f.label}  engagement ${AL.fmt(f.engagement, 0)}`, ...f.top3.map(([c, p]) => `${c} ${AL.fmt(p)}`)];
      const lh = 16 * scale, top = Math.max(0, f.y1 - lh * lines.length - 4);
      ctx.fillStyle = "rgba(0,0,0,.6)";
      ctx.fillRect(f.x1, top, Math.max(w, 170 * scale), lh * lines.length + 4);
      ctx.fillStyle = "#fff";
      lines.forEach((l, i) => ctx.fillText(l, f.x1 + 4, top + lh * (i + 1) - 3));
      const h = spark.get(f.track_id) || [], sh = 28 * scale, sw = Math.max(w, 120 * scale), y0 = f.y2 + 4;
      ctx.fillStyle = "rgba(0,0,0,.55)"; ctx.fillRect(f.x1, y0, sw, sh);
      ctx.strokeStyle = col; ctx.lineWidth = 1.5; ctx.beginPath();
      // a gap where the face could not be read (engagement null), not a drop to 0
      let pen = false;
      h.forEach((v, i) => {
        if (v === null) { pen = false; return; }
        const x = f.x1 + (i / (HISTORY - 1)) * sw, y = y0 + sh - (v / 100) * sh;
        pen ? ctx.lineTo(x, y) : ctx.moveTo(x, y); pen = true;
      });
      ctx.stroke();
    }
    if (stream) requestAnimationFrame(draw);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("live-start").addEventListener("click", start);
    $("live-stop").addEventListener("click", stop);
    $("live-export").addEventListener("click", () => AL.download(`affectlens-live-${new Date().toISOString().slice(0, 19)}.csv`, AL.csv(rows)));
  });
  window.affectlensLive = { stats, rows: () => rows.length };
})();
