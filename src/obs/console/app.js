/* gregor console: plain JavaScript, no build step, no network but gregord.
 * Every value from the broker goes into the page as text (textContent),
 * never as HTML. Changes (POST/DELETE) carry the X-Gregor-Console header. */
"use strict";

const main = document.getElementById("main");
let overview = null;
let refreshTimer = null;

/* ---------------------------------------------------------------- helpers */

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const k of kids.flat()) if (k) e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  if (o.method && o.method !== "GET") o.headers["X-Gregor-Console"] = "1";
  const r = await fetch(path, o);
  let body = null;
  try { body = await r.json(); } catch (e) { body = { error: true, message: "HTTP " + r.status }; }
  if (!r.ok) throw new Error((body && body.message) || ("HTTP " + r.status));
  return body;
}

function fmtNum(n) {
  if (n === null || n === undefined || n < 0) return "-";
  return Number(n).toLocaleString("en-US");
}

function fmtBytes(n) {
  if (n < 0) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || ms < 0) return "-";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function fmtTime(t) {
  if (!t || t < 0) return "-";
  return new Date(t).toISOString().replace("T", " ").replace("Z", "");
}

function badge(s) { return h("span", { class: "badge " + s }, s); }
function errorBox(e) { return h("div", { class: "msg error" }, String(e.message || e)); }
function enc(s) { return encodeURIComponent(s); }

function setNav(which) {
  for (const id of ["overview", "topics", "groups"])
    document.getElementById("nav-" + id).className = id === which ? "active" : "";
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

/* A line chart of one or two series: points [{t, a, b}] */
function lineChart(points, cls, opts) {
  const W = 600, H = opts.height || 200, P = 34;
  const s = svg("svg", { class: cls, viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none" });
  if (!points.length) return s;
  const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
  const keys = opts.keys;
  keys.forEach((k, idx) => {
    const max = Math.max(1, ...points.map(p => p[k] || 0));
    const xy = points.map(p => [
      P + (W - 2 * P) * ((p.t - t0) / Math.max(1, t1 - t0)),
      H - P / 2 - (H - P) * ((p[k] || 0) / max)]);
    s.appendChild(svg("polyline", { class: "line" + (idx + 1), points: xy.map(q => q.join(",")).join(" "),
                                    "vector-effect": "non-scaling-stroke" }));
    if (opts.maxes) opts.maxes[idx] = max;
  });
  s.appendChild(svg("line", { class: "axis", x1: P, y1: H - P / 2, x2: W - P, y2: H - P / 2 }));
  return s;
}

/* ---------------------------------------------------------------- overview */

async function pageOverview() {
  setNav("overview");
  const o = await api("/api/overview");
  overview = o;
  const ser = o.series || [];
  const rates = [];
  for (let i = 1; i < ser.length; i++) {
    const dt = Math.max(1, ser[i].t - ser[i - 1].t) / 1000;
    rates.push({ t: ser[i].t, in: (ser[i].bytes_in - ser[i - 1].bytes_in) / dt,
                 out: (ser[i].bytes_out - ser[i - 1].bytes_out) / dt,
                 rec: (ser[i].records - ser[i - 1].records) / dt,
                 req: (ser[i].requests - ser[i - 1].requests) / dt, p99: ser[i].p99_ms });
  }
  const last = rates.length ? rates[rates.length - 1] : { in: 0, out: 0, rec: 0, req: 0, p99: 0 };
  const card = (k, v, small) => h("div", { class: "card" }, h("div", { class: "k" }, k),
                                  h("div", { class: "v" + (small ? " small" : "") }, v));
  const spark = (title, key, fmt) => h("div", { class: "card" },
    h("div", { class: "k" }, title + ": " + fmt(last[key] || 0)),
    lineChart(rates, "spark", { keys: [key], height: 60 }));
  show(
    h("h1", {}, "Overview"),
    h("div", { class: "cards", id: "overview-cards" },
      card("Broker", "node " + o.node_id),
      card("Version", o.version),
      card("Uptime", fmtMs(o.uptime_ms)),
      card("Topics", fmtNum(o.topics)),
      card("Partitions", fmtNum(o.partitions)),
      card("Consumer groups", fmtNum(o.groups)),
      card("Connections", fmtNum(o.connections)),
      card("Memory budget in use", fmtBytes(o.memory_budget_used)),
      card("Kafka listener", o.listeners, true),
      card("HTTP listener", o.http, true),
      card("Cluster id", o.cluster_id, true),
      card("Log dirs", o.log_dirs, true)),
    h("h2", {}, "Throughput and latency (last 2 minutes)"),
    h("div", { class: "charts" },
      spark("Bytes in/s", "in", v => fmtBytes(Math.round(v))),
      spark("Bytes out/s", "out", v => fmtBytes(Math.round(v))),
      spark("Records in/s", "rec", v => fmtNum(Math.round(v))),
      spark("Requests/s", "req", v => fmtNum(Math.round(v))),
      spark("Request latency p99", "p99", v => v + " ms")));
}

/* ---------------------------------------------------------------- topics */

async function pageTopics(params) {
  setNav("topics");
  const filter = params.get("filter") || "";
  const d = await api("/api/topics?limit=1000&filter=" + enc(filter));
  const rows = d.topics.map(t => h("tr", {},
    h("td", {}, h("a", { href: "#/topic/" + enc(t.name) }, t.name), t.internal ? " (internal)" : ""),
    h("td", { class: "num" }, fmtNum(t.partitions)),
    h("td", { class: "num" }, fmtNum(t.messages)),
    h("td", { class: "num" }, fmtBytes(t.size)),
    h("td", {}, h("a", { href: "#/messages/" + enc(t.name) }, "messages"),
      overview && overview.write_enabled && !t.internal
        ? [" ", h("button", { class: "danger", "data-topic": t.name, onclick: () => deleteTopic(t.name) }, "Delete")]
        : null)));
  const filterForm = h("form", { class: "inline", id: "topic-filter", onsubmit: ev => {
      ev.preventDefault(); location.hash = "#/topics?filter=" + enc(ev.target.elements.filter.value); } },
    h("input", { name: "filter", placeholder: "filter topics", value: filter }), h("button", {}, "Filter"));
  const create = overview && overview.write_enabled ? h("form", { class: "inline", id: "topic-create", onsubmit: async ev => {
      ev.preventDefault();
      const f = ev.target.elements;
      try {
        await api("/api/topics?name=" + enc(f.name.value) + "&partitions=" + enc(f.partitions.value), { method: "POST" });
        route();
      } catch (e) { ev.target.after(errorBox(e)); }
    } },
    h("input", { name: "name", placeholder: "new topic name", required: true }),
    h("input", { name: "partitions", type: "number", min: 1, max: 10000, value: 1 }),
    h("button", {}, "Create topic")) : h("p", { class: "muted" }, "Read-only: http.console.write.enable=false");
  show(h("h1", {}, "Topics (" + d.total + ")"), filterForm, create,
    h("table", { id: "topics-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Topic"), h("th", { class: "num" }, "Partitions"),
      h("th", { class: "num" }, "Messages"), h("th", { class: "num" }, "Size"), h("th", {}, ""))), h("tbody", {}, rows)));
}

async function deleteTopic(name) {
  if (!window.confirm("Delete topic " + name + " and all its data?")) return;
  try { await api("/api/topics/" + enc(name), { method: "DELETE" }); route(); }
  catch (e) { main.prepend(errorBox(e)); }
}

async function pageTopic(name) {
  setNav("topics");
  const t = await api("/api/topics/" + enc(name));
  const rows = t.partitions.map(p => h("tr", {},
    h("td", { class: "num" }, p.partition), h("td", { class: "num" }, fmtNum(p.start)),
    h("td", { class: "num" }, fmtNum(p.end)), h("td", { class: "num" }, fmtNum(p.end - p.start)),
    h("td", { class: "num" }, fmtBytes(p.size)), h("td", { class: "num" }, p.segments),
    h("td", { class: "num" }, p.leader),
    h("td", {}, h("a", { href: "#/messages/" + enc(name) + "?partition=" + p.partition }, "browse"))));
  const cfg = Object.entries(t.configs).map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, v)));
  show(h("h1", {}, "Topic " + t.name),
    h("table", { id: "partitions-table" }, h("thead", {}, h("tr", {}, ["Partition", "Start offset", "End offset", "Messages", "Size",
      "Segments", "Leader", ""].map((c, i) => h("th", { class: i < 7 ? "num" : "" }, c)))), h("tbody", {}, rows)),
    h("h2", {}, "Configuration overrides"),
    cfg.length ? h("table", {}, h("tbody", {}, cfg)) : h("p", { class: "muted" }, "none (broker defaults)"));
}

/* ---------------------------------------------------------------- messages */

function b64bytes(s) {
  const bin = atob(s);
  const u = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
  return u;
}

function render(b64, fmt) {
  if (b64 === null) return "null";
  const u = b64bytes(b64);
  if (fmt === "hex") return Array.from(u, b => b.toString(16).padStart(2, "0")).join(" ");
  const text = new TextDecoder("utf-8", { fatal: false }).decode(u);
  if (fmt === "json") {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text + "   (not JSON)"; }
  }
  return text;
}

async function pageMessages(topic, params) {
  setNav("topics");
  const part = params.get("partition") || "0";
  const order = params.get("order") || "newest";
  const fmt = params.get("format") || "text";
  let q = "/api/topics/" + enc(topic) + "/messages?partition=" + enc(part) + "&order=" + enc(order) +
          "&limit=" + enc(params.get("limit") || "50") + "&max_value=" + enc(params.get("max_value") || "1024");
  if (params.get("offset")) q += "&offset=" + enc(params.get("offset"));
  if (params.get("timestamp")) q += "&timestamp=" + enc(Date.parse(params.get("timestamp")) || params.get("timestamp"));
  const d = await api(q);
  let msgs = d.messages;
  if (order === "newest") msgs = msgs.slice().reverse();
  const form = h("form", { class: "inline", id: "browse-form", onsubmit: ev => {
      ev.preventDefault();
      const f = ev.target.elements, p = new URLSearchParams();
      for (const k of ["partition", "offset", "timestamp", "order", "format", "limit"]) if (f[k].value) p.set(k, f[k].value);
      location.hash = "#/messages/" + enc(topic) + "?" + p.toString();
    } },
    "Partition", h("input", { name: "partition", type: "number", min: 0, value: part }),
    "Offset", h("input", { name: "offset", type: "number", value: params.get("offset") || "" }),
    "or time", h("input", { name: "timestamp", placeholder: "2024-01-01T00:00:00Z", value: params.get("timestamp") || "" }),
    h("select", { name: "order" }, h("option", { value: "newest", selected: order === "newest" }, "newest first"),
      h("option", { value: "oldest", selected: order === "oldest" }, "from the start / offset")),
    h("select", { name: "format" }, ["text", "json", "hex"].map(x => h("option", { value: x, selected: fmt === x }, x))),
    h("input", { name: "limit", type: "number", min: 1, max: 500, value: params.get("limit") || "50" }),
    h("button", {}, "Show"));
  const rows = msgs.map(m => {
    const truncated = m.value !== null && b64bytes(m.value).length < m.value_size;
    return h("tr", {},
      h("td", { class: "num" }, m.offset), h("td", { class: "mono" }, fmtTime(m.timestamp)),
      h("td", {}, h("pre", { class: "value" }, render(m.key, fmt))),
      h("td", {}, h("pre", { class: "value" }, render(m.value, fmt)),
        truncated ? h("a", { href: "#/messages/" + enc(topic) + "?partition=" + part + "&offset=" + m.offset +
                              "&order=oldest&limit=1&max_value=1048576&format=" + fmt }, "… " + fmtBytes(m.value_size) + ": show all") : null),
      h("td", {}, m.headers.map(x => h("div", { class: "mono" }, x.key + "=" + render(x.value, fmt)))));
  });
  show(h("h1", {}, "Messages of " + topic + "-" + part),
    h("p", { class: "muted" }, "offsets " + d.start + " .. " + d.end),
    form,
    d.error ? errorBox(new Error(d.error)) : null,
    h("table", { id: "messages-table" }, h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Offset"), h("th", {}, "Timestamp"),
      h("th", {}, "Key"), h("th", {}, "Value"), h("th", {}, "Headers"))), h("tbody", {}, rows)),
    rows.length ? null : h("p", { class: "muted" }, "no messages"));
}

/* ---------------------------------------------------------------- groups */

async function pageGroups(params) {
  setNav("groups");
  const filter = params.get("filter") || "";
  const d = await api("/api/groups?limit=1000&filter=" + enc(filter));
  const rows = d.groups.map(g => h("tr", {},
    h("td", {}, h("a", { href: "#/group/" + enc(g.group) }, g.group)),
    h("td", {}, badge(g.state)), h("td", { class: "num" }, g.members),
    h("td", { class: "num" }, fmtNum(g.lag)), h("td", { class: "num" }, fmtMs(g.lag_ms)),
    h("td", {}, badge(g.status))));
  show(h("h1", {}, "Consumer groups (" + d.total + ")"),
    h("form", { class: "inline", onsubmit: ev => { ev.preventDefault(); location.hash = "#/groups?filter=" + enc(ev.target.elements.filter.value); } },
      h("input", { name: "filter", placeholder: "filter groups", value: filter }), h("button", {}, "Filter")),
    h("table", { id: "groups-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Group"), h("th", {}, "State"), h("th", { class: "num" }, "Members"),
      h("th", { class: "num" }, "Lag (records)"), h("th", { class: "num" }, "Lag (time)"), h("th", {}, "Burrow status"))),
      h("tbody", {}, rows)));
}

function planTable(plan, id) {
  return h("div", { id: id },
    h("p", { class: "msg info" }, (plan.dry_run ? "Dry run: nothing changed yet. " : "Done: the group's offsets are now as below. ") +
      (plan.note || "")),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Topic"), h("th", { class: "num" }, "Partition"),
      h("th", { class: "num" }, "Current offset"), h("th", { class: "num" }, "New offset"))),
      h("tbody", {}, plan.partitions.map(p => h("tr", {}, h("td", {}, p.topic), h("td", { class: "num" }, p.partition),
        h("td", { class: "num" }, fmtNum(p.current)), h("td", { class: "num" }, fmtNum(p.new)))))));
}

function resetForm(gid) {
  const out = h("div", { id: "reset-result" });
  const needsValue = { "to-offset": "offset", "shift-by": "±n", "to-datetime": "YYYY-MM-DDTHH:mm:SS.sss",
                       "by-duration": "PnDTnHnMnS" };
  const query = f => {
    const p = new URLSearchParams({ mode: f.mode.value });
    if (f.value.value) p.set("value", f.value.value);
    if (f.topic.value) p.set("topic", f.topic.value);
    return "/api/groups/" + enc(gid) + "/reset?" + p.toString();
  };
  const form = h("form", { class: "inline", id: "reset-form", onsubmit: async ev => {
      ev.preventDefault();
      const f = ev.target.elements;
      out.replaceChildren();
      try {
        const body = f.mode.value === "from-file" ? f.csv.value : undefined;
        /* always a dry run first: GET computes the plan */
        const shown = f.mode.value === "from-file"
          ? await api(query(f) + "&dry_run=1", { method: "POST", body: body, headers: { "Content-Type": "text/csv" } })
          : await api(query(f));
        const exec = h("button", { class: "danger", id: "reset-execute", disabled: !(overview && overview.write_enabled),
          onclick: async () => {
            try {
              const done = await api(query(f), { method: "POST", body: body, headers: { "Content-Type": "text/csv" } });
              out.replaceChildren(planTable(done, "reset-done"));
              setTimeout(route, 800);
            } catch (e) { out.appendChild(errorBox(e)); }
          } }, "Execute reset");
        out.replaceChildren(planTable(shown, "reset-plan"), exec);
      } catch (e) { out.appendChild(errorBox(e)); }
    } },
    h("select", { name: "mode", id: "reset-mode" }, ["to-earliest", "to-latest", "to-current", "to-offset", "shift-by", "to-datetime",
      "by-duration", "from-file"].map(m => h("option", { value: m }, m))),
    h("input", { name: "value", id: "reset-value", placeholder: "value (" + Object.values(needsValue).join(" | ") + ")" }),
    h("input", { name: "topic", id: "reset-topic", placeholder: "topic[:0,1] (default: all the group's)" }),
    h("textarea", { name: "csv", placeholder: "from-file: topic,partition,offset per line" }),
    h("button", { id: "reset-preview" }, "Preview (dry run)"));
  return h("div", {}, form, out);
}

function undoBox(gid, last) {
  const out = h("div", { id: "undo-result" });
  const btn = h("button", { class: "secondary", id: "undo-preview", disabled: !last, onclick: async () => {
      out.replaceChildren();
      try {
        const plan = await api("/api/groups/" + enc(gid) + "/undo");
        const exec = h("button", { class: "danger", id: "undo-execute", disabled: !(overview && overview.write_enabled),
          onclick: async () => {
            try {
              const done = await api("/api/groups/" + enc(gid) + "/undo", { method: "POST" });
              out.replaceChildren(planTable(done, "undo-done"));
              setTimeout(route, 800);
            } catch (e) { out.appendChild(errorBox(e)); }
          } }, "Execute undo");
        out.replaceChildren(planTable(plan, "undo-plan"), exec);
      } catch (e) { out.appendChild(errorBox(e)); }
    } }, "Preview undo of the last reset");
  return h("div", {}, h("p", { class: "muted" }, last ? "Last reset: " + fmtTime(last.time) + " (" + last.partitions +
    " partitions)" : "No reset of this group since the broker started."), btn, out);
}

function lagChart(series) {
  const maxes = [0, 0];
  const chart = lineChart(series, "chart", { keys: ["lag", "secs"], maxes: maxes });
  return h("div", {},
    h("div", { class: "legend" },
      h("span", { class: "l1" }, "— records (max " + fmtNum(maxes[0]) + ")"),
      h("span", { class: "l2" }, "— seconds behind (max " + maxes[1].toFixed(1) + " s)"),
      series.length ? h("span", { class: "muted" }, "sampled every 5 s, last " + fmtMs(series[series.length - 1].t - series[0].t))
                    : h("span", { class: "muted" }, "no samples yet (one every 5 s)")),
    chart);
}

async function pageGroup(gid) {
  setNav("groups");
  const g = await api("/api/groups/" + enc(gid));
  const st = g.status;
  const tps = l => l.map(a => a.topic + "-" + a.partition).join(", ");
  const members = g.members.map(m => h("tr", {}, h("td", { class: "mono" }, m.member_id), h("td", {}, m.client_id),
    h("td", {}, m.host), h("td", { class: "mono" }, (tps(m.assignment) || "-") +
      (m.member_epoch !== undefined ? " (epoch " + m.member_epoch + (m.revoking.length ? ", revoking " + tps(m.revoking) : "") + ")" : ""))));
  const byPart = {};
  for (const p of st.partitions) byPart[p.topic + "\u0000" + p.partition] = p;
  const offsets = g.offsets.map(o => {
    const ps = byPart[o.topic + "\u0000" + o.partition];
    return h("tr", {}, h("td", {}, o.topic), h("td", { class: "num" }, o.partition), h("td", { class: "num" }, fmtNum(o.offset)),
      h("td", { class: "num" }, fmtNum(o.end)), h("td", { class: "num" }, fmtNum(o.lag)), h("td", { class: "num" }, fmtMs(o.lag_ms)),
      h("td", {}, ps ? badge(ps.status) : "-"), h("td", { class: "mono" }, o.member || "-"));
  });
  const modern = g.type === "consumer";
  const events = g.history.slice().reverse().map(e => e.kind === "rebalance"
    ? h("li", { class: "rebalance" }, h("span", { class: "when" }, fmtTime(e.time)),
        (modern ? "group epoch " : "generation ") + e.generation + ": " + e.trigger + (e.member ? " (" + e.member + ")" : "") + ", " + e.members + " member(s)" +
        (e.duration_ms !== null ? ", rebalance took " + fmtMs(e.duration_ms) : ""))
    : e.kind === "assignment"
    ? h("li", { class: "assignment" }, h("span", { class: "when" }, fmtTime(e.time)),
        "member " + e.member + " at epoch " + e.member_epoch + " owns " + (e.assigned || "nothing") + (e.revoking ? ", revoking " + e.revoking : ""))
    : h("li", { class: "commit" }, h("span", { class: "when" }, fmtTime(e.time)),
        "offset " + e.topic + "-" + e.partition + " " + (e.from < 0 ? "-" : e.from) + " → " + e.to + " by " + e.member));
  const series = g.series.map(s => ({ t: s.t, lag: s.lag, secs: Math.max(0, s.lag_ms) / 1000 }));
  show(h("h1", {}, "Consumer group ", h("span", { id: "group-name" }, g.group)),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "k" }, "State"), h("div", { class: "v" }, badge(g.state))),
      h("div", { class: "card" }, h("div", { class: "k" }, "Burrow status"), h("div", { class: "v", id: "group-status" }, badge(st.status))),
      h("div", { class: "card" }, h("div", { class: "k" }, "Members"), h("div", { class: "v" }, g.members.length)),
      h("div", { class: "card" }, h("div", { class: "k" }, "Total lag"), h("div", { class: "v" }, fmtNum(st.totallag))),
      h("div", { class: "card" }, h("div", { class: "k" }, modern ? "Group epoch / assignor" : "Generation / protocol"), h("div", { class: "v small" },
        g.generation + " / " + (g.protocol || "-"))),
      h("div", { class: "card" }, h("div", { class: "k" }, "Coordinator"), h("div", { class: "v small" },
        "__consumer_offsets-" + g.coordinator_partition))),
    h("h2", {}, "Lag over time"),
    lagChart(series),
    h("h2", {}, "Lag per partition"),
    h("table", { id: "offsets-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Topic"), h("th", { class: "num" }, "Partition"),
      h("th", { class: "num" }, "Committed"), h("th", { class: "num" }, "Log end"), h("th", { class: "num" }, "Lag"),
      h("th", { class: "num" }, "Time lag"), h("th", {}, "Status"), h("th", {}, "Member"))), h("tbody", {}, offsets)),
    h("h2", {}, "Members and assignments"),
    members.length ? h("table", { id: "members-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Member"), h("th", {}, "Client"),
      h("th", {}, "Host"), h("th", {}, "Assignment"))), h("tbody", {}, members)) : h("p", { class: "muted" }, "no active members"),
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Reset offsets"), resetForm(g.group), h("h2", {}, "Undo"), undoBox(g.group, g.last_reset)),
      h("div", {}, h("h2", {}, "Rebalance timeline"),
        events.length ? h("ul", { class: "timeline", id: "timeline" }, events) : h("p", { class: "muted" }, "no events kept"))));
}

/* ---------------------------------------------------------------- routing */

async function route() {
  if (refreshTimer) { clearTimeout(refreshTimer); refreshTimer = null; }
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = hash.split("?");
  const params = new URLSearchParams(qs || "");
  const parts = path.split("/").slice(1).map(decodeURIComponent);
  try {
    if (!overview) overview = await api("/api/overview");
    document.getElementById("mode").textContent = overview.write_enabled ? "write mode" : "read-only";
    if (parts[0] === "" || parts[0] === undefined) { await pageOverview(); refreshTimer = setTimeout(route, 5000); }
    else if (parts[0] === "topics") await pageTopics(params);
    else if (parts[0] === "topic") await pageTopic(parts[1]);
    else if (parts[0] === "messages") await pageMessages(parts[1], params);
    else if (parts[0] === "groups") await pageGroups(params);
    else if (parts[0] === "group") await pageGroup(parts[1]);
    else show(h("p", {}, "Unknown page"));
    main.setAttribute("data-page", parts[0] || "overview");
  } catch (e) {
    show(errorBox(e));
  }
}

window.addEventListener("hashchange", route);
route();
