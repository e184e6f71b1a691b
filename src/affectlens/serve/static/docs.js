// An offline API reference: renders /openapi.json (no Swagger UI from a CDN).
"use strict";
(async () => {
  const main = document.getElementById("docs");
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    for (const c of kids.flat(Infinity)) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  };
  let spec;
  try { spec = await fetch("/openapi.json").then((r) => r.json()); } catch (e) { main.textContent = `cannot load /openapi.json: ${e}`; return; }
  const resolve = (s) => {
    if (s && s.$ref) return resolve(s.$ref.split("/").slice(1).reduce((o, k) => o[k], spec));
    return s || {};
  };
  const isFile = (p) => resolve(p).format === "binary" || resolve(p).contentMediaType !== undefined;
  const typeOf = (s) => {
    s = resolve(s);
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (s.anyOf) return s.anyOf.map(typeOf).join(" | ");
    if (s.type === "array") return `${typeOf(s.items)}[]`;
    if (isFile(s)) return "file";
    return s.type || s.title || "object";
  };
  const fields = (schema) => {
    const s = resolve(schema);
    const req = new Set(s.required || []);
    return Object.entries(s.properties || {}).map(([name, p]) => el("tr", {},
      el("td", {}, el("code", {}, name), req.has(name) ? " *" : ""), el("td", {}, typeOf(p)),
      el("td", {}, resolve(p).description || (p.default !== undefined ? `default ${JSON.stringify(p.default)}` : ""))));
  };
  // a curl line per endpoint: the key in the header, a file for each binary field, JSON for a JSON body
  const curl = (method, path, op) => {
    const parts = [`curl -X ${method.toUpperCase()} -H "X-API-Key: $AFFECTLENS_KEY"`];
    const content = (op.requestBody || {}).content || {};
    if (content["multipart/form-data"]) {
      const s = resolve(content["multipart/form-data"].schema);
      for (const [name, p] of Object.entries(s.properties || {})) {
        if ((s.required || []).includes(name) || isFile(p)) parts.push(isFile(p) ? `-F ${name}=@FILE` : `-F ${name}=VALUE`);
      }
    } else if (content["application/json"]) {
      const s = resolve(content["application/json"].schema);
      const example = Object.fromEntries((s.required || []).map((k) => [k, "…"]));
      parts.push(`-H "Content-Type: application/json" -d '${JSON.stringify(example)}'`);
    }
    parts.push(`"${location.origin}${path}"`);
    return parts.join(" \\\n  ");
  };
  const table = (head, rows) => rows.length ? el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows)) : null;
  main.replaceChildren(el("h1", {}, `${spec.info.title} ${spec.info.version}`), el("p", {}, spec.info.summary || ""), el("p", {}, spec.info.description || ""));
  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push([method, path, op]);
    }
  }
  groups.set("live", [["websocket", "/v1/live", { summary: "Live analysis of camera frames", description:
    "Send binary messages, each one JPEG (or PNG/WebP) frame; the server answers each frame it analyses with JSON " +
    "{type: 'result', frame, time_s, width, height, faces: [face row + top3], dropped, latency_ms}. Frames sent while " +
    "the server is busy replace each other (only the newest is kept, the others count as dropped). Authenticate with " +
    "the X-API-Key header, or ?ticket=… from POST /v1/tickets (browsers), when the server needs a key. Send {\"type\": \"reset\"} as text to start new tracks, {\"type\": \"hello\"} to be answered {type: 'ready', labels}." }]]);
  for (const [tag, ops] of groups) {
    main.append(el("h2", {}, tag));
    for (const [method, path, op] of ops) {
      const params = (op.parameters || []).map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name), p.required ? " *" : ""),
        el("td", {}, `${p.in}: ${typeOf(p.schema)}`), el("td", {}, p.description || "")));
      const body = op.requestBody ? Object.entries(op.requestBody.content).map(([type, c]) => [el("p", {}, "Body: ", el("code", {}, type)), table(["field", "type", ""], fields(c.schema))]) : [];
      const responses = Object.entries(op.responses || {}).map(([code, r]) => el("tr", {}, el("td", {}, code), el("td", {}, r.description || "")));
      const example = method === "websocket" ? null : el("pre", { class: "curl" }, curl(method, path, op));
      main.append(el("details", { class: "op" },
        el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), el("span", { class: "path" }, path), el("span", { class: "muted" }, op.summary || "")),
        op.description ? el("p", {}, op.description) : null,
        table(["parameter", "in / type", ""], params), body, example, table(["status", "meaning"], responses)));
    }
  }
})();
