// Studies tab: list, create, respondents and their state, remote invites (create, copy, revoke), run, report, timeline.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  // the order of the counts line; states not named here follow in the server's order
  const ORDER = ["done", "partial", "running", "pending", "consented", "opened", "invited", "failed", "expired", "revoked"];
  const REVOCABLE = new Set(["invited", "opened", "consented"]);
  const POLL_MS = 5000, BUSY_MS = 2000;
  let current = null, timer = null, seen = "";
  const links = new Map(); // study → the links created in this page (their tokens are not stored anywhere else)

  const visible = () => !$("tab-studies").hidden && document.visibilityState === "visible";
  const split = (text) => String(text || "").split(",").map((s) => s.trim()).filter(Boolean);

  async function refresh() {
    try {
      const studies = await AL.api("/v1/studies");
      $("studies").tBodies[0].replaceChildren(...(studies.length ? studies.map((s) => AL.el("tr", {},
        AL.el("td", {}, s.name), AL.el("td", {}, `${s.stimulus} (${AL.fmt(s.stimulus_duration_s, 1)} s)`),
        AL.el("td", {}, s.model || "default"),
        AL.el("td", {}, Object.entries(s.counts).map(([k, v]) => `${v} ${k}`).join(", ") || "none"),
        AL.el("td", {}, s.running ? "running" : "idle"),
        AL.el("td", {}, AL.el("button", { onclick: () => open(s.name) }, "open")),
      )) : [AL.el("tr", {}, AL.el("td", { colspan: 6, class: "muted" }, "no study yet"))]));
    } catch (e) { AL.banner(e.message); }
  }

  async function open(name) {
    current = name;
    seen = "";
    $("study-view").hidden = false;
    $("study-title").textContent = name;
    $("invite-error").textContent = "";
    showLinks();
    try { $("study-report").href = await AL.ticketed(`/v1/studies/${enc(name)}/report`); } catch (e) { AL.banner(e.message); }
    await update();
  }

  // Poll while the tab is visible and a study is open: fast while processing, every 5 s otherwise
  // (remote respondents open, consent, watch and finish on their own).
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; if (visible()) update(); }, ms);
  }

  async function update() {
    clearTimeout(timer);
    if (!current) return;
    const name = current;
    let s;
    try { s = await AL.api(`/v1/studies/${enc(name)}`); } catch (e) { AL.banner(e.message); schedule(POLL_MS); return; }
    if (name !== current) return; // another study was opened meanwhile
    $("respondents").tBodies[0].replaceChildren(...(s.respondents.length ? s.respondents.map(row)
      : [AL.el("tr", {}, AL.el("td", { colspan: 10, class: "muted" }, "no respondent yet: add a recording or invite someone"))]));
    $("respondent-counts").textContent = counts(s.counts);
    const busy = s.running || (s.counts.running || 0) > 0;
    $("study-status").textContent = busy ? "processing…" : "";
    $("study-run").disabled = busy;
    const sig = JSON.stringify([busy, s.counts]);
    if (!busy && sig !== seen) { chart().catch((e) => AL.banner(e.message)); refresh(); }
    seen = sig;
    schedule(busy ? BUSY_MS : POLL_MS);
  }

  function counts(c) {
    const keys = [...ORDER.filter((k) => c[k]), ...Object.keys(c).filter((k) => c[k] && !ORDER.includes(k))];
    return keys.map((k) => `${c[k]} ${k}`).join(" · ") || "no respondent yet";
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function row(r) {
    const state = r.state || r.status;
    return AL.el("tr", { "data-respondent": r.respondent, "data-state": state },
      AL.el("td", {}, r.respondent),
      AL.el("td", {}, AL.el("span", { class: `badge state-${state}` }, state)),
      AL.el("td", {}, r.source || "upload"),
      AL.el("td", {}, AL.fmt(r.seconds_watched, 1)),
      AL.el("td", { title: r.expires || null }, when(r.expires)),
      AL.el("td", {}, Object.entries(r.tags).map(([k, v]) => `${k}=${v}`).join(", ")),
      AL.el("td", {}, r.frames ?? "–"), AL.el("td", {}, r.face_frames ?? "–"), AL.el("td", { class: "error" }, r.error || ""),
      AL.el("td", {}, REVOCABLE.has(state)
        ? AL.el("button", { class: "revoke", "data-action": "revoke", title: "the link stops working at once", onclick: (e) => revoke(r.respondent, e.currentTarget) }, "Revoke")
        : null),
    );
  }

  async function revoke(who, button) {
    if (!confirm(`Revoke the invite link of ${who}? It stops working at once.`)) return;
    button.disabled = true;
    try { await AL.api(`/v1/studies/${enc(current)}/invites/${enc(who)}`, { method: "DELETE" }); } catch (e) { AL.banner(e.message); }
    await update();
  }

  function parseTags(text) {
    const tags = {};
    for (const part of split(text)) {
      const i = part.indexOf("=");
      if (i <= 0) throw new Error(`tags: write key=value pairs separated by commas, not "${part}"`);
      tags[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    return tags;
  }

  async function invite(form) {
    const error = $("invite-error"), button = $("invite-submit"), data = new FormData(form);
    error.textContent = "";
    let body;
    try {
      const count = Number(data.get("count") || 0);
      if (!Number.isInteger(count) || count < 0) throw new Error("count: a whole number, 0 or more");
      body = { respondents: split(data.get("respondents")), count, tags: parseTags(data.get("tags")), expires: String(data.get("expires") || "").trim() || "7d" };
      if (!body.respondents.length && !count) throw new Error("Name respondents, or ask for a number of generated pseudonyms.");
    } catch (e) { error.textContent = e.message; return; }
    const name = current;
    button.disabled = true;
    try {
      const made = await AL.api(`/v1/studies/${enc(name)}/invites`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      links.set(name, [...(links.get(name) || []), ...made]);
      form.reset();
      if (name === current) showLinks();
      update();
    } catch (e) { error.textContent = e.message; }
    finally { button.disabled = false; }
  }

  function showLinks() {
    const made = links.get(current) || [];
    $("invite-result").hidden = !made.length;
    $("invite-links").replaceChildren(...made.map((i) => {
      const code = AL.el("code", { class: "link", "data-testid": "invite-link" }, i.url);
      return AL.el("li", { "data-respondent": i.respondent },
        AL.el("span", { class: "who" }, i.respondent), code,
        AL.el("button", { type: "button", onclick: (e) => copy(i.url, code, e.currentTarget) }, "Copy"),
        AL.el("span", { class: "muted" }, `expires ${when(i.expires)}`),
      );
    }));
  }

  // The clipboard API needs a secure context (https or localhost); elsewhere copy through a hidden
  // textarea, and if even that is refused select the text for Ctrl+C.
  async function copy(text, node, button) {
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch {
      const area = AL.el("textarea", { readonly: true, class: "offscreen" }, text);
      document.body.append(area);
      area.select();
      try { ok = document.execCommand("copy"); } catch { ok = false; }
      area.remove();
      if (!ok) window.getSelection().selectAllChildren(node);
    }
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? "Copied" : "Selected: press Ctrl+C";
    setTimeout(() => { button.textContent = label; }, 1500);
  }

  async function chart() {
    if (typeof Plotly === "undefined") return;
    const d = await AL.api(`/v1/studies/${enc(current)}/seconds`);
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
      if (await submit(e.target, `/v1/studies/${enc(current)}/recordings`)) update();
    });
    $("invite-form").addEventListener("submit", (e) => { e.preventDefault(); invite(e.target); });
    $("invite-copy-all").addEventListener("click", (e) => {
      const made = links.get(current) || [];
      copy(made.map((i) => `${i.respondent}\t${i.url}`).join("\n") + "\n", $("invite-links"), e.currentTarget);
    });
    $("study-run").addEventListener("click", async () => {
      try { await AL.api(`/v1/studies/${enc(current)}/run`, { method: "POST" }); update(); } catch (e) { AL.banner(e.message); }
    });
    document.addEventListener("visibilitychange", () => { if (current && visible()) update(); });
    AL.onTab("studies", () => { refresh(); if (current) update(); });
  });
})();
