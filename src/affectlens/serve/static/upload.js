// Upload tab: drop videos or images → jobs with progress → timelines, per-face summaries, annotated media, downloads.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const rows = new Map(); // job id → table row
  const polling = new Set();
  const EMOTIONS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"];

  function jobRow(name) {
    const bar = AL.el("progress", { max: 1, value: 0 });
    const state = AL.el("span", { class: "state" }, "uploading");
    const action = AL.el("span");
    const tr = AL.el("tr", {}, AL.el("td", {}, name), AL.el("td", {}, state), AL.el("td", {}, bar), AL.el("td", {}, action));
    $("jobs").tBodies[0].prepend(tr);
    return { tr, bar, state, action };
  }

  function setState(r, job) {
    r.state.textContent = job.state + (job.error ? `: ${job.error}` : "") + (job.note ? ` (${job.note})` : "");
    r.state.className = `state state-${job.state}`;
    if (job.progress !== null && job.progress !== undefined) r.bar.value = job.progress;
    else r.bar.removeAttribute("value");
    if (job.state === "done" && !r.action.childNodes.length) r.action.append(AL.el("button", { onclick: () => show(job.id) }, "view"));
  }

  function upload(file) {
    const r = jobRow(file.name);
    const form = new FormData();
    form.append("file", file);
    form.append("blur_faces", $("upload-blur").checked ? "true" : "false");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/jobs");
    if (AL.key()) xhr.setRequestHeader("X-API-Key", AL.key());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) r.bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status !== 202) {
        r.state.textContent = `refused: ${(body && body.error && body.error.message) || xhr.status}`;
        r.state.className = "state state-failed";
        return;
      }
      rows.set(body.id, r);
      setState(r, body);
      poll(body.id, true);
    };
    xhr.onerror = () => { r.state.textContent = "upload failed (connection)"; r.state.className = "state state-failed"; };
    xhr.send(form);
  }

  async function poll(id, showWhenDone = false) {
    if (polling.has(id)) return;
    polling.add(id);
    try {
      for (;;) {
        const job = await AL.api(`/v1/jobs/${id}`);
        setState(rows.get(id), job);
        if (job.state === "done") { if (showWhenDone) show(id); break; }
        if (job.state === "failed") break;
        await new Promise((res) => setTimeout(res, 1000));
      }
    } catch (e) { AL.banner(e.message); } finally { polling.delete(id); }
  }

  async function load() {
    try {
      const jobs = await AL.api("/v1/jobs?limit=50");
      for (const job of jobs.reverse()) {
        if (!rows.has(job.id)) rows.set(job.id, jobRow(job.filename));
        setState(rows.get(job.id), job);
        if (job.state === "queued" || job.state === "running") poll(job.id);
      }
    } catch (e) { AL.banner(e.message); }
  }

  async function show(id) {
    const job = await AL.api(`/v1/jobs/${id}`);
    $("job-view").hidden = false;
    $("job-title").textContent = `${job.filename} — ${job.summary ? `${job.summary.frames} frames, ${job.summary.tracks} faces` : ""}`;
    const links = Object.entries(job.links).filter(([k]) => k !== "self");
    const hrefs = await Promise.all(links.map(([, href]) => AL.ticketed(href)));
    $("job-downloads").replaceChildren("Downloads: ", ...links.map(([k], i) => AL.el("a", { href: hrefs[i], download: "" }, k)));
    const media = await AL.ticketed(job.links.annotated);
    $("job-video").hidden = job.kind !== "video";
    $("job-image").hidden = job.kind !== "image";
    if (job.kind === "video") $("job-video").src = media; else $("job-image").src = media;
    const [seconds, tracks] = await Promise.all([
      AL.api(`/v1/jobs/${id}/results/seconds?format=json`).catch(() => []),
      AL.api(`/v1/jobs/${id}/results/tracks?format=json`),
    ]);
    charts(seconds);
    table(tracks);
  }

  function charts(seconds) {
    if (typeof Plotly === "undefined") return;
    const bySecond = new Map();
    for (const r of seconds) {
      const a = bySecond.get(r.second) || [];
      a.push(r);
      bySecond.set(r.second, a);
    }
    const xs = [...bySecond.keys()].sort((a, b) => a - b);
    const mean = (arr, k) => { const v = arr.map((r) => r[k]).filter((x) => x !== null && x !== undefined); return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null; };
    const emo = EMOTIONS.filter((c) => seconds.some((r) => `mean_p_${c}` in r)).map((c) => ({
      x: xs, y: xs.map((s) => mean(bySecond.get(s), `mean_p_${c}`)), name: c, mode: "lines", stackgroup: "p",
    }));
    Plotly.react("job-emotions", emo, AL.plotLayout({ xaxis: { title: "second" }, yaxis: { title: "mean probability", range: [0, 1] } }), { displayModeBar: false });
    const ids = [...new Set(seconds.map((r) => r.track_id))];
    const eng = ids.map((id) => {
      const rs = seconds.filter((r) => r.track_id === id);
      return { x: rs.map((r) => r.second), y: rs.map((r) => r.mean_engagement), name: `face #${id}`, mode: "lines+markers", line: { color: AL.color(id) } };
    });
    Plotly.react("job-engagement", eng, AL.plotLayout({ xaxis: { title: "second" }, yaxis: { title: "engagement", range: [0, 100] } }), { displayModeBar: false });
  }

  function table(tracks) {
    const cols = ["track_id", "duration_s", "n_frames", "dominant_label", "mean_engagement", "attentive_share", "share_face_lost", "smiles", "blinks", "yawns", "longest_look_away_s"]
      .filter((c) => tracks.some((t) => c in t));
    const t = $("job-tracks");
    t.tHead.replaceChildren(AL.el("tr", {}, cols.map((c) => AL.el("th", {}, c.replace(/_/g, " ")))));
    t.tBodies[0].replaceChildren(...tracks.map((r) => AL.el("tr", {}, cols.map((c) => AL.el("td", {}, typeof r[c] === "number" && !Number.isInteger(r[c]) ? AL.fmt(r[c]) : r[c] ?? "–")))));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const dz = $("dropzone");
    dz.addEventListener("dragover", (e) => { e.preventDefault(); dz.classList.add("over"); });
    dz.addEventListener("dragleave", () => dz.classList.remove("over"));
    dz.addEventListener("drop", (e) => { e.preventDefault(); dz.classList.remove("over"); [...e.dataTransfer.files].forEach(upload); });
    $("upload-input").addEventListener("change", (e) => { [...e.target.files].forEach(upload); e.target.value = ""; });
    let loaded = false;
    AL.onTab("upload", () => { if (!loaded) { loaded = true; load(); } });
  });
})();
