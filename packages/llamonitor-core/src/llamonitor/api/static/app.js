// llamonitor dashboard: plain JS, no dependencies. Charts and graphs are inline SVG.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  async function api(path) {
    const resp = await fetch(path, { headers });
    if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
    return resp.json();
  }
  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  const fmt = {
    int: (v) => (v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US")),
    ms: (v) => (v === null || v === undefined ? "–" : (v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(1) + " ms")),
    usd: (v) => (v === null || v === undefined ? "–" : "$" + (v < 1 ? v.toFixed(4) : v.toFixed(2))),
    pct: (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"),
  };
  function size(svg) { const r = svg.getBoundingClientRect(); return [r.width || 300, r.height || 120]; }

  // -- overview --------------------------------------------------------------------------
  function cards(s) {
    const items = [
      ["Events", fmt.int(s.total_events), "total-events"], ["Errors", fmt.int(s.errors) + " (" + fmt.pct(s.error_rate) + ")", "errors"],
      ["p95 latency", fmt.ms(s.latency.p95_ms), "p95"], ["Tokens", fmt.int(s.total_tokens), "tokens"],
      ["Cost", fmt.usd(s.total_cost_usd), "cost"], ["Sessions", fmt.int(s.sessions), "sessions-count"],
    ];
    const box = clear($("cards"));
    for (const [label, value, id] of items) {
      const card = document.createElement("div");
      card.className = "card";
      card.innerHTML = '<div class="label"></div><div class="value"></div>';
      card.children[0].textContent = label;
      card.children[1].textContent = value;
      card.children[1].id = "card-" + id;
      box.appendChild(card);
    }
  }

  function chart(svg, buckets, series) {
    clear(svg);
    const [w, h] = size(svg);
    const pad = { l: 44, r: 6, t: 6, b: 18 };
    const max = Math.max(1e-9, ...buckets.flatMap((b) => series.map((s) => b[s.key] || 0)));
    const bw = (w - pad.l - pad.r) / Math.max(1, buckets.length);
    const y = (v) => h - pad.b - (v / max) * (h - pad.t - pad.b);
    svg.appendChild(el("line", { x1: pad.l, x2: w - pad.r, y1: h - pad.b, y2: h - pad.b, class: "axis" }));
    svg.appendChild(el("text", { x: 2, y: pad.t + 8 }, series[0].label(max)));
    svg.appendChild(el("text", { x: 2, y: h - pad.b }, "0"));
    if (buckets.length) {
      svg.appendChild(el("text", { x: pad.l, y: h - 4 }, buckets[0].start.slice(5, 16).replace("T", " ")));
      const last = buckets[buckets.length - 1].end.slice(5, 16).replace("T", " ");
      svg.appendChild(el("text", { x: w - pad.r, y: h - 4, "text-anchor": "end" }, last));
    }
    for (const s of series) {
      if (s.type === "bar") {
        buckets.forEach((b, i) => {
          const v = b[s.key] || 0;
          svg.appendChild(el("rect", { x: pad.l + i * bw + 1, width: Math.max(1, bw - 2), y: y(v), height: h - pad.b - y(v), fill: s.color }));
        });
      } else {
        const pts = buckets.map((b, i) => (b[s.key] === null ? null : [pad.l + (i + 0.5) * bw, y(b[s.key] || 0)])).filter(Boolean);
        svg.appendChild(el("polyline", { points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: s.color, "stroke-width": 2 }));
        for (const p of pts) svg.appendChild(el("circle", { cx: p[0], cy: p[1], r: 2.5, fill: s.color }));
      }
    }
  }

  function charts(buckets) {
    chart($("chart-events"), buckets, [
      { key: "events", type: "bar", color: "#3867d6", label: (m) => fmt.int(m) },
      { key: "errors", type: "bar", color: "#d63838", label: (m) => fmt.int(m) }]);
    chart($("chart-latency"), buckets, [{ key: "p95_ms", type: "line", color: "#e0a100", label: (m) => fmt.int(m) }]);
    chart($("chart-tokens"), buckets, [{ key: "total_tokens", type: "bar", color: "#2e9d5b", label: (m) => fmt.int(m) }]);
    chart($("chart-cost"), buckets, [{ key: "cost_usd", type: "line", color: "#8854d0", label: (m) => fmt.usd(m) }]);
  }

  function table(node, cols, rows, onClick) {
    clear(node);
    const head = node.insertRow();
    for (const c of cols) { const th = document.createElement("th"); th.textContent = c[0]; if (c[2]) th.className = "num"; head.appendChild(th); }
    for (const r of rows) {
      const tr = node.insertRow();
      for (const c of cols) { const td = tr.insertCell(); td.textContent = c[1](r); if (c[2]) td.className = "num"; }
      if (onClick) { tr.className = "click"; tr.onclick = () => { for (const o of node.rows) o.classList.remove("selected"); tr.classList.add("selected"); onClick(r); }; }
    }
  }

  // -- coordination graph ---------------------------------------------------------------
  function drawGraph(g) {
    const svg = clear($("graph"));
    const [w, h] = size(svg);
    if (!g.nodes.length) { $("graph-note").textContent = "no agents recorded"; return; }
    // layers: longest handoff chain from an entry agent (left to right); cycles are cut at n steps
    const depth = {};
    const ids = g.nodes.map((n) => n.id);
    const entries = g.entry_agents.filter((a) => ids.includes(a));
    (entries.length ? entries : [ids[0]]).forEach((a) => (depth[a] = 0));
    for (let round = 0; round < ids.length; round++) {
      let changed = false;
      for (const e of g.edges) {
        if (e.source === e.target || depth[e.source] === undefined || entries.includes(e.target)) continue;
        const d = depth[e.source] + 1;
        if (d < ids.length && (depth[e.target] === undefined || depth[e.target] < d)) { depth[e.target] = d; changed = true; }
      }
      if (!changed) break;
    }
    let maxd = Math.max(0, ...Object.values(depth));
    for (const n of g.nodes) if (depth[n.id] === undefined) depth[n.id] = ++maxd;
    const cols = {};
    for (const n of g.nodes) (cols[depth[n.id]] = cols[depth[n.id]] || []).push(n);
    const pos = {};
    const ncols = Object.keys(cols).length;
    Object.keys(cols).sort((a, b) => a - b).forEach((d, ci) => {
      cols[d].forEach((n, ri) => { pos[n.id] = [70 + ci * ((w - 140) / Math.max(1, ncols - 1)), (h * (ri + 1)) / (cols[d].length + 1)]; });
    });
    const defs = el("defs");
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a94a0" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    const maxCount = Math.max(1, ...g.edges.map((e) => e.count));
    const critical = new Set(g.critical_path || []);
    for (const e of g.edges) {
      const [x1, y1] = pos[e.source] || [0, 0];
      const [x2, y2] = pos[e.target] || [0, 0];
      const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1, r = 26;
      const color = e.avg_quality_score >= 0.7 ? "#2e9d5b" : e.avg_quality_score >= 0.5 ? "#e0a100" : "#d63838";
      const skip = Math.abs(dx) > 1.5 * ((w - 140) / Math.max(1, ncols - 1)) ? 1 : 0;
      const bend = e.source === e.target ? 0 : 18 + skip * Math.min(90, 0.12 * len);
      const mx = (x1 + x2) / 2 - (dy / len) * bend, my = (y1 + y2) / 2 + (dx / len) * bend;
      svg.appendChild(el("path", {
        d: `M ${x1 + (dx / len) * r} ${y1 + (dy / len) * r} Q ${mx} ${my} ${x2 - (dx / len) * r} ${y2 - (dy / len) * r}`,
        fill: "none", stroke: color, "stroke-width": 1 + (4 * e.count) / maxCount, "marker-end": "url(#arrow)", opacity: 0.8,
        class: "edge"}));
      svg.appendChild(el("text", { x: (x1 + x2) / 4 + mx / 2, y: (y1 + y2) / 4 + my / 2 - 3, "text-anchor": "middle", fill: "#6b7480" }, "×" + e.count));
    }
    for (const n of g.nodes) {
      const [x, y] = pos[n.id];
      const fill = n.success_rate >= 0.95 ? "#e7f1fd" : n.success_rate >= 0.8 ? "#fff4d6" : "#fde2e2";
      svg.appendChild(el("circle", { cx: x, cy: y, r: 24, fill, stroke: critical.has(n.id) ? "#d63838" : "#3867d6", "stroke-width": critical.has(n.id) ? 3 : 1.5, class: "node" }));
      svg.appendChild(el("text", { x, y: y - 30, "text-anchor": "middle", class: "node-label" }, n.id));
      svg.appendChild(el("text", { x, y: y + 4, "text-anchor": "middle", fill: "#6b7480" }, String(n.invocations)));
    }
    $("graph-note").textContent = `${g.nodes.length} agents, ${g.edges.length} handoff links, max depth ${g.max_depth}; ` +
      `critical path ${fmt.ms(g.critical_path_ms)} (red borders). Edge width: handoffs; colour: quality.`;
  }

  // -- sessions, traces, waterfall ------------------------------------------------------
  async function openSession(s) {
    const data = await api(`api/v1/sessions/${encodeURIComponent(s.session_id)}/traces`);
    const box = clear($("traces"));
    let first = null;
    for (const t of data.traces) {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = `${t.trace_id} (${t.events}, ${fmt.ms(t.duration_ms)})`;
      chip.onclick = () => { for (const c of box.children) c.classList.remove("selected"); chip.classList.add("selected"); openTrace(s.session_id, t.trace_id); };
      box.appendChild(chip);
      if (!first) first = chip;
    }
    if (first) first.click();
  }

  async function openTrace(sessionId, traceId) {
    const data = await api(`api/v1/traces/${encodeURIComponent(traceId)}?session_id=${encodeURIComponent(sessionId)}`);
    const spans = data.events;
    $("trace-title").textContent = `${traceId} · ${spans.length} spans`;
    const byId = {}, children = {};
    for (const e of spans) { byId[e.span_id] = e; }
    const roots = [];
    for (const e of spans) {
      if (e.parent_span_id && byId[e.parent_span_id]) (children[e.parent_span_id] = children[e.parent_span_id] || []).push(e);
      else roots.push(e);
    }
    const ordered = [];
    const walk = (e, d) => { ordered.push([e, d]); for (const c of children[e.span_id] || []) walk(c, d + 1); };
    roots.forEach((r) => walk(r, 0));
    const t0 = Math.min(...spans.map((e) => Date.parse(e.start_time)));
    const t1 = Math.max(...spans.map((e) => Date.parse(e.end_time)));
    const svg = clear($("waterfall"));
    const rowH = 18, labelW = 260;
    svg.style.height = Math.max(80, ordered.length * rowH + 24) + "px";
    const [w] = size(svg);
    const scale = (w - labelW - 70) / Math.max(1, t1 - t0);
    ordered.forEach(([e, d], i) => {
      const y = 4 + i * rowH;
      const x = labelW + (Date.parse(e.start_time) - t0) * scale;
      const label = (e.agent && e.agent.agent_name ? e.agent.agent_name + " · " : "") + e.operation_name;
      svg.appendChild(el("text", { x: 4 + d * 12, y: y + 12 }, label.slice(0, 40)));
      svg.appendChild(el("rect", { x, y: y + 2, width: Math.max(2, e.duration_ms * scale), height: rowH - 5, rx: 2,
        fill: e.error ? "#d63838" : e.operation_type === "llm_call" ? "#3867d6" : "#8854d0", class: "span" }));
      svg.appendChild(el("text", { x: x + Math.max(2, e.duration_ms * scale) + 4, y: y + 12, fill: "#6b7480" }, fmt.ms(e.duration_ms)));
    });
  }

  // -- live feed --------------------------------------------------------------------------
  function live(mode) {
    const on = `live: on (${mode || "in-process"})`;
    const url = new URL("api/v1/stream", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (token) url.searchParams.set("token", token);
    let ws;
    try { ws = new WebSocket(url); } catch (err) { return; }
    ws.onopen = () => { $("live").textContent = on; $("live").className = "live on"; };
    ws.onclose = () => { $("live").textContent = "live: off"; $("live").className = "live off"; };
    const show = (d) => {
      const li = document.createElement("li");
      li.textContent = `${d.start_time.slice(11, 23)} ${d.operation_name} ${fmt.ms(d.duration_ms)}`;
      if (d.error) li.className = "err";
      $("live-events").prepend(li);
    };
    ws.onmessage = (msg) => {
      const m = JSON.parse(msg.data);
      (m.type === "batch" ? m.data.slice(-50) : [m.data]).forEach(show);  // a batch: a client that fell behind
      while ($("live-events").children.length > 50) $("live-events").lastChild.remove();
    };
  }

  async function main() {
    const [health, summary, series, ops, agents, graph, sessions] = await Promise.all([
      api("api/health"), api("api/v1/metrics/summary"), api("api/v1/metrics/timeseries?buckets=24"),
      api("api/v1/metrics/operations"), api("api/v1/agents"), api("api/v1/agents/graph"), api("api/v1/sessions?limit=50")]);
    $("backend").textContent = `backend: ${health.backend}`;
    cards(summary);
    charts(series.buckets);
    drawGraph(graph);
    table($("agents"), [["agent", (a) => a.agent_name], ["invocations", (a) => fmt.int(a.invocations), 1],
      ["success", (a) => fmt.pct(a.success_rate), 1], ["p95", (a) => fmt.ms(a.p95_latency_ms), 1],
      ["tokens", (a) => fmt.int(a.total_tokens), 1], ["cost", (a) => fmt.usd(a.total_cost_usd), 1]], agents.agents);
    table($("operations"), [["operation", (o) => o.key], ["events", (o) => fmt.int(o.events), 1],
      ["errors", (o) => fmt.pct(o.error_rate), 1], ["p50", (o) => fmt.ms(o.latency.p50_ms), 1],
      ["p95", (o) => fmt.ms(o.latency.p95_ms), 1], ["tokens", (o) => fmt.int(o.total_tokens), 1],
      ["cost", (o) => fmt.usd(o.cost_usd), 1]], ops.operations);
    table($("sessions"), [["session", (s) => s.session_id.slice(0, 24)], ["events", (s) => fmt.int(s.events), 1],
      ["errors", (s) => fmt.int(s.errors), 1], ["cost", (s) => fmt.usd(s.total_cost_usd), 1]], sessions.sessions, openSession);
    if (sessions.sessions.length) {
      $("sessions").rows[1].classList.add("selected");
      await openSession(sessions.sessions[0]);
    }
    document.body.dataset.ready = "1";
    live(health.live && health.live.mode);
  }
  main().catch((err) => { document.body.dataset.error = String(err); const p = document.createElement("p"); p.className = "err"; p.textContent = String(err); document.querySelector("main").prepend(p); });
})();
