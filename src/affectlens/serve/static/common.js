// Shared helpers of the dashboard: API calls with the key, DOM building, CSV, colours, tabs.
"use strict";
const AL = (() => {
  const KEY = "affectlens.key";
  const PALETTE = ["#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"];
  const key = () => localStorage.getItem(KEY) || "";
  const headers = () => (key() ? { "X-API-Key": key() } : {});
  async function api(path, opts = {}) {
    const r = await fetch(path, { ...opts, headers: { ...headers(), ...(opts.headers || {}) } });
    const json = (r.headers.get("content-type") || "").includes("json");
    const body = r.status === 204 ? null : json ? await r.json() : await r.text();
    if (!r.ok) throw new Error((body && body.error && body.error.message) || `${r.status} ${r.statusText}`);
    return body;
  }
  // Links and the live WebSocket cannot carry a header: they get a short-lived ticket for their one path
  // (POST /v1/tickets, the key in the header), so the key itself never travels in a URL.
  async function ticketed(url) {
    if (!key()) return url;
    const u = new URL(url, location.href);
    const t = await api("/v1/tickets", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ path: u.pathname }),
    });
    u.searchParams.set("ticket", t.ticket);
    return u.protocol.startsWith("ws") ? u.href : `${u.pathname}${u.search}`;
  }
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const color = (id) => (id >= 0 ? PALETTE[id % PALETTE.length] : "#c8c8c8");
  const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));
  function csv(rows) {
    if (!rows.length) return "";
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const cell = (v) => {
      if (v === null || v === undefined) return "";
      const s = typeof v === "object" ? JSON.stringify(v) : String(v);
      return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    return [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
  }
  function download(name, text, type = "text/csv") {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function banner(msg) {
    const b = document.getElementById("banner");
    b.textContent = msg || "";
    b.hidden = !msg;
  }
  const plotLayout = (extra = {}) => ({
    paper_bgcolor: "#1a2129", plot_bgcolor: "#1a2129", font: { color: "#e6e6e6", size: 11 },
    margin: { l: 45, r: 15, t: 10, b: 35 }, legend: { orientation: "h", y: -0.2 }, ...extra,
  });
  const tabs = {};
  function onTab(name, fn) { tabs[name] = fn; }
  function showTab(name) {
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    document.querySelectorAll("main > section").forEach((s) => (s.hidden = s.id !== `tab-${name}`));
    if (tabs[name]) tabs[name]();
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  }
  document.addEventListener("DOMContentLoaded", async () => {
    document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
    const input = document.getElementById("apikey");
    input.value = key();
    input.addEventListener("change", () => { localStorage.setItem(KEY, input.value.trim()); banner(""); });
    try {
      const h = await fetch("/v1/health").then((r) => r.json());
      document.getElementById("keybox").hidden = !h.auth;
      if (h.auth && !key()) banner("This server needs an API key: paste one from `affectlens keys create` above.");
    } catch (e) { banner(`server unreachable: ${e.message}`); }
    showTab((location.hash || "#live").slice(1));
  });
  return { api, ticketed, el, color, fmt, csv, download, banner, plotLayout, onTab, key };
})();
