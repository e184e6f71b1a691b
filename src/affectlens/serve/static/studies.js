// Studies tab: list, create, respondents and their processing state, run, report, timeline.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let current = null, timer = null;

  async function refresh() {
    try {
      const studies = await AL.api("/v1/studies");
      $("studies").tBodies[0].replaceChildren(...(studies.length ? studies.map((s) => AL.el("tr", {},
        AL.el("td", {}, s.name), AL.el("td", {}, `${s.stimulus} (${AL.fmt(s.stimulus_duration_s, 1)} s)`),
        AL.el("td", {}, Object.entries(s.counts).map(([k, v]) => `${v} ${k}`).join(", ") || "none"),
        AL.el("td", {}, s.running ? "running" : "idle"),
        AL.el("td", {}, AL.el("button", { onclick: () => open(s.name) }, "open")),
      )) : [AL.el("tr", {}, AL.el("td", { colspan: 5, class: "muted" }, "no study yet"))]));
    } catch (e) { AL.banner(e.message); }
  }

  async function open(name) {
    current = name;
    $("study-view").hidden = false;
    $("study-title").textContent = name;
    $("study-report").href = await AL.ticketed(`/v1/studies/${encodeURIComponent(name)}/report`);
    await update();
  }

  async function update() {
    clearTimeout(timer);
    if (!current) return;
    const s = await AL.api(`/v1/studies/${encodeURIComponent(current)}`);
    $("respondents").tBodies[0].replaceChildren(...s.respondents.map((r) => AL.el("tr", {},
      AL.el("td", {}, r.respondent), AL.el("td", { class: `state-${r.status}` }, r.status),
      AL.el("td", {}, Object.entries(r.tags).map(([k, v]) => `${k}=${v}`).join(", ")),
      AL.el("td", {}, r.frames ?? "–"), AL.el("td", {}, r.face_frames ?? "–"), AL.el("td", { class: "error" }, r.error || ""),
    )));
    const busy = s.running || (s.counts.running || 0) > 0;
    $("study-status").textContent = busy ? "processing…" : `${s.counts.done || 0} done, ${s.counts.pending || 0} pending, ${s.counts.failed || 0} failed`;
    $("study-run").disabled = busy;
    if (busy) timer = setTimeout(update, 2000);
    else { chart(); refresh(); }
  }

  async function chart() {
    if (typeof Plotly === "undefined") return;
    const d = await AL.api(`/v1/studies/${encodeURIComponent(current)}/seconds`);
    const x = d.timeline.map((r) => r.second);
    const traces = [
      { x, y: d.timeline.map((r) => r.engagement_mean), name: "engagement (mean)", mode: "lines", line: { color: "#3fa7ff" } },
      { x, y: d.timeline.map((r) => (r.valence_score ?? null) === null ? null : 50 + 50 * r.valence_score), name: "valence (rescaled 0–100)", mode: "lines", line: { color: "#e69f00" } },
    ];
    Plotly.react("study-timeline", traces, AL.plotLayout({ xaxis: { title: "stimulus second" }, yaxis: { range: [0, 100] } }), { displayModeBar: false });
  }

  async function submit(form, url) {
    const data = new FormData(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try { await AL.api(url, { method: "POST", body: data }); form.reset(); return true; }
    catch (e) { AL.banner(e.message); return false; }
    finally { button.disabled = false; }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("studies-refresh").addEventListener("click", refresh);
    $("study-create").addEventListener("submit", async (e) => {
      e.preventDefault();
      const name = e.target.querySelector("[name=name]").value;
      if (await submit(e.target, "/v1/studies")) { await refresh(); open(name); }
    });
    $("study-add").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (await submit(e.target, `/v1/studies/${encodeURIComponent(current)}/recordings`)) update();
    });
    $("study-run").addEventListener("click", async () => {
      try { await AL.api(`/v1/studies/${encodeURIComponent(current)}/run`, { method: "POST" }); update(); } catch (e) { AL.banner(e.message); }
    });
    AL.onTab("studies", refresh);
  });
})();
