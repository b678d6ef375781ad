// Gatehouse status page: polls the admin API and renders with the DOM (textContent only, never
// HTML from data) and plain SVG. No build step and no dependency: this file is served as is.

const TOKEN_KEY = "gatehouse-admin-token";
const FAST_POLL_MS = 1000; // tunnels and recent decisions
const SLOW_POLL_MS = 5000; // providers, the chart, policy denials
const SESSION_PAGE = 100;
const MAX_SESSION_PAGES = 20; // at most 2 000 rows in the table; the count shows the total
const RECENT_LIMIT = 50;
const OUTCOME_COLOURS = { allow: "#2e7d32", deny: "#e65100", error: "#c62828" };
/** The metrics' outcome labels in the words of /api/auth/recent and /api/providers. */
const OUTCOME_WORDS = { allow: "allowed", deny: "denied", error: "failed" };
const PROVIDER_DASHES = ["", "6 3", "2 3", "8 3 2 3"];

const $ = (id) => document.getElementById(id);

// ---- the admin API, with the token asked for once when it answers 401 ----

let tokenPrompt = null;

function askForToken(refused) {
  tokenPrompt ??= new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token-message").textContent = refused
      ? "That token was refused. Enter the admin token."
      : "This admin listener needs its token (admin.token).";
    $("token-input").value = "";
    $("token-form").addEventListener(
      "submit",
      () => {
        sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
        tokenPrompt = null;
        resolve();
      },
      { once: true },
    );
    showConnection("waiting for the admin token", "warn");
    dialog.showModal();
  });
  return tokenPrompt;
}

async function api(path, init = {}) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "application/json", ...init.headers };
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { ...init, headers, cache: "no-store" });
    if (response.status === 401) {
      await askForToken(token !== null);
      continue;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(`${path}: ${body?.error ?? `HTTP ${response.status}`}`);
    return body;
  }
}

// ---- formatting ----

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatAge(fromIso, now) {
  const seconds = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function formatTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour12: false });
}

function destinationText(session) {
  if (session.udp) return `UDP via ${session.udp.relay}`;
  const { destination } = session;
  if (destination.port === null) return "…";
  const host = destination.name ?? destination.address?.replace(/:\d+$/, "") ?? "?";
  return `${host}:${destination.port}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function showConnection(text, level = "ok") {
  const status = $("connection");
  status.textContent = text;
  status.dataset.level = level;
}

let toastTimer;
function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.classList.add("visible");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => node.classList.remove("visible"), 4000);
}

// ---- live tunnels ----

// unanswered: the workers a listing had to leave out (their tunnels are missing from rows and total).
const tunnels = { rows: [], total: 0, unanswered: [], sort: { key: "started", direction: -1 }, filter: "" };
const rowsById = new Map();

const SORT_VALUES = {
  identity: (s) => s.identity ?? "\uffff",
  peer: (s) => s.peer,
  destination: (s) => destinationText(s),
  up: (s) => s.bytes.up,
  down: (s) => s.bytes.down,
  started: (s) => Date.parse(s.started),
  last_activity: (s) => Date.parse(s.last_activity),
};

async function fetchSessions() {
  const rows = [];
  let cursor = null;
  let total = 0;
  const unanswered = new Set();
  for (let page = 0; page < MAX_SESSION_PAGES; page++) {
    const query = new URLSearchParams({ limit: String(SESSION_PAGE) });
    if (cursor !== null) query.set("cursor", cursor);
    const body = await api(`/api/sessions?${query}`);
    rows.push(...body.sessions);
    total = body.total;
    for (const worker of body.unanswered_workers ?? []) unanswered.add(worker);
    cursor = body.next_cursor;
    if (cursor === null || cursor === undefined) break;
  }
  tunnels.rows = rows;
  tunnels.total = total;
  tunnels.unanswered = [...unanswered].sort((a, b) => a - b);
  renderTunnels();
}

function matchesFilter(session, words) {
  const text = [
    session.identity,
    ...(session.groups ?? []),
    session.peer,
    session.destination.name,
    session.destination.address,
    session.destination.port === null ? null : String(session.destination.port),
    session.udp?.relay,
    session.udp ? "udp" : null,
    session.provider,
    session.listener,
  ]
    .filter((part) => part !== null && part !== undefined)
    .join(" ")
    .toLowerCase();
  return words.every((word) => text.includes(word));
}

function closeButton(label, className, onClick) {
  const button = element("button", className, label);
  button.type = "button";
  button.addEventListener("click", onClick);
  return button;
}

async function closeTunnels(selector, button) {
  button.disabled = true;
  try {
    const { closed } = await api("/api/sessions/close", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(selector),
    });
    toast(`Closed ${closed} tunnel${closed === 1 ? "" : "s"}`);
    await fetchSessions();
  } catch (error) {
    toast(`Close failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

/** One click arms the button (it names what it will do), a second within 4 s closes. */
function armedClose(session) {
  const label = `All of ${session.identity}`;
  const button = closeButton(label, "close-identity", () => {
    if (button.dataset.armed !== "true") {
      const count = tunnels.rows.filter((row) => row.identity === session.identity).length;
      button.dataset.armed = "true";
      button.textContent = `Close ${count} of ${session.identity}?`;
      setTimeout(() => {
        button.dataset.armed = "false";
        button.textContent = label;
      }, 4000);
      return;
    }
    button.dataset.armed = "false";
    button.textContent = label;
    void closeTunnels({ identity: session.identity }, button);
  });
  button.title = `Close every tunnel of ${session.identity}`;
  return button;
}

function buildRow(session) {
  const row = element("tr");
  row.dataset.id = session.id;
  const cells = {};
  for (const [key, label, className] of [
    ["identity", "Identity"],
    ["peer", "Peer"],
    ["destination", "Destination"],
    ["up", "Up", "num"],
    ["down", "Down", "num"],
    ["started", "Age"],
    ["last_activity", "Idle"],
    ["relay", "Relay"],
  ]) {
    const cell = element("td", className);
    cell.dataset.label = label;
    cell.dataset.column = key;
    cells[key] = cell;
    row.append(cell);
  }
  const actions = element("td", "actions");
  actions.append(
    closeButton("Close", "close-row", (event) => void closeTunnels({ id: session.id }, event.currentTarget)),
  );
  if (session.identity !== null) actions.append(armedClose(session));
  row.append(actions);
  return { row, cells };
}

function updateRow({ cells }, session, now) {
  cells.identity.textContent = session.identity ?? "(no auth)";
  cells.identity.title = [
    session.provider && `provider ${session.provider}`,
    session.groups?.length && `groups ${session.groups.join(", ")}`,
  ]
    .filter(Boolean)
    .join("; ");
  cells.peer.textContent = session.peer;
  cells.destination.textContent = destinationText(session);
  cells.destination.title = session.udp
    ? `datagrams ${session.udp.datagrams.up} up, ${session.udp.datagrams.down} down; from ${session.udp.client}`
    : (session.destination.address ?? "");
  cells.up.textContent = formatBytes(session.bytes.up);
  cells.down.textContent = formatBytes(session.bytes.down);
  cells.started.textContent = formatAge(session.started, now);
  cells.started.title = session.started;
  cells.last_activity.textContent = formatAge(session.last_activity, now);
  cells.relay.textContent = [
    session.relay,
    session.worker !== null && session.worker !== undefined ? `w${session.worker}` : null,
  ]
    .filter(Boolean)
    .join(" ");
}

function renderTunnels() {
  const now = Date.now();
  const words = tunnels.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const { key, direction } = tunnels.sort;
  const value = SORT_VALUES[key];
  const shown = tunnels.rows
    .filter((session) => matchesFilter(session, words))
    .sort((a, b) => {
      const left = value(a);
      const right = value(b);
      return (left < right ? -1 : left > right ? 1 : 0) * direction;
    });
  const body = $("tunnels").tBodies[0];
  const live = new Set(shown.map((session) => session.id));
  for (const [id, entry] of rowsById) {
    if (!live.has(id)) {
      entry.row.remove();
      rowsById.delete(id);
    }
  }
  for (const session of shown) {
    let entry = rowsById.get(session.id);
    if (entry === undefined) {
      entry = buildRow(session);
      rowsById.set(session.id, entry);
    }
    updateRow(entry, session, now);
    body.append(entry.row); // moves an existing row into sorted order
  }
  $("tunnel-count").textContent = String(tunnels.total);
  $("identity-count").textContent = String(new Set(tunnels.rows.map((s) => s.identity).filter(Boolean)).size);
  $("tunnels-empty").hidden = shown.length > 0;
  const missing =
    tunnels.unanswered.length > 0
      ? ` Worker ${tunnels.unanswered.join(", ")} did not answer: its tunnels are missing.`
      : "";
  $("tunnel-note").textContent =
    (tunnels.rows.length < tunnels.total
      ? `Showing ${tunnels.rows.length} of ${tunnels.total} tunnels.`
      : words.length > 0
        ? `${shown.length} of ${tunnels.total} tunnels match.`
        : "") + missing;
  for (const button of document.querySelectorAll("#tunnels th button")) {
    const sorted = button.dataset.sort === key;
    button.parentElement.setAttribute("aria-sort", sorted ? (direction > 0 ? "ascending" : "descending") : "none");
  }
}

// ---- recent decisions ----

async function fetchRecent() {
  const { decisions } = await api(`/api/auth/recent?limit=${RECENT_LIMIT}`);
  const body = $("recent").tBodies[0];
  body.replaceChildren(
    ...[...decisions]
      .sort((a, b) => Date.parse(b.time) - Date.parse(a.time))
      .map((decision) => {
        const row = element("tr");
        const outcome = element("span", `badge outcome-${decision.outcome}`, decision.outcome);
        for (const [label, content, className] of [
          ["Time", formatTime(decision.time)],
          ["User", decision.username ?? ""],
          ["Peer", decision.peer],
          ["Provider", decision.provider ?? "none"],
          ["Outcome", outcome],
          ["Reason", decision.reason ?? ""],
          ["ms", decision.latency_ms === null ? "" : decision.latency_ms.toFixed(1), "num"],
        ]) {
          const cell = element("td", className);
          cell.dataset.label = label;
          cell.append(content);
          row.append(cell);
        }
        return row;
      }),
  );
  $("recent-empty").hidden = decisions.length > 0;
}

// ---- providers ----

async function fetchProviders() {
  const { providers } = await api("/api/providers");
  $("providers").replaceChildren(
    ...providers.map((provider) => {
      const item = element("li", "provider");
      const head = element("div", "provider-head");
      head.append(
        element("strong", "", provider.name),
        element("span", `badge health-${provider.health}`, provider.health),
      );
      item.append(head);
      if (provider.message) item.append(element("p", "provider-message", provider.message));
      const { allowed = 0, denied = 0, failed = 0 } = provider.decisions ?? {};
      const facts = [`${allowed} allowed`, `${denied} denied`, `${failed} failed`];
      const latency = provider.latency_ms;
      if (latency && latency.p50 !== null && latency.p50 !== undefined) {
        facts.push(`p50 ${latency.p50.toFixed(1)} ms`, `p99 ${latency.p99.toFixed(1)} ms`);
      }
      if (provider.cache) facts.push(`cache ${Math.round(provider.cache.hit_ratio * 100)}% hits`);
      item.append(element("p", "provider-facts", facts.join(" · ")));
      return item;
    }),
  );
}

// ---- the auth chart (plain SVG) ----

const CHART = { width: 640, height: 220, left: 36, right: 8, top: 10, bottom: 24 };

function niceMax(value) {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((step) => step * magnitude).find((candidate) => candidate >= value);
}

async function fetchSeries() {
  const data = await api("/api/auth/series");
  const end = data.times.length > 0 ? Date.parse(data.times[data.times.length - 1]) : Date.now();
  const start = end - data.window_seconds * 1000;
  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const max = niceMax(Math.max(0, ...data.series.flatMap((series) => series.counts)));
  const x = (iso) => left + ((Date.parse(iso) - start) / (end - start)) * plotWidth;
  const y = (count) => top + plotHeight - (count / max) * plotHeight;

  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-svg" });
  const title = svg("title");
  title.textContent = "Auth decisions per provider and outcome, per step, over the last 15 minutes";
  chart.append(title);
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid" }));
    const label = svg("text", { x: left - 4, y: y(value) + 4, "text-anchor": "end", class: "axis" });
    label.textContent = String(Math.round(value * 10) / 10);
    chart.append(label);
  }
  for (const minutes of [15, 10, 5, 0]) {
    const label = svg("text", {
      x: left + ((15 - minutes) / 15) * plotWidth,
      y: height - 6,
      "text-anchor": minutes === 15 ? "start" : minutes === 0 ? "end" : "middle",
      class: "axis",
    });
    label.textContent = minutes === 0 ? "now" : `−${minutes} min`;
    chart.append(label);
  }
  const providers = [...new Set(data.series.map((series) => series.provider))];
  const legend = [];
  let refused = 0;
  for (const series of data.series) {
    const total = series.counts.reduce((sum, count) => sum + count, 0);
    if (series.outcome !== "allow") refused += total;
    if (total === 0) continue;
    const colour = OUTCOME_COLOURS[series.outcome] ?? "#555";
    const dash = PROVIDER_DASHES[providers.indexOf(series.provider) % PROVIDER_DASHES.length];
    // The line runs through whole steps; the last, still filling, shows as a dot only (a line
    // down to it would read as a drop).
    const points = series.counts.map((count, index) => `${x(data.times[index]).toFixed(1)},${y(count).toFixed(1)}`);
    chart.append(
      svg("polyline", {
        points: points.slice(0, -1).join(" "),
        stroke: colour,
        "stroke-dasharray": dash,
        class: "series",
      }),
    );
    // A dot on each step with decisions: one login in 15 minutes is still visible.
    series.counts.forEach((count, index) => {
      if (count > 0) chart.append(svg("circle", { cx: x(data.times[index]), cy: y(count), r: 2.5, fill: colour }));
    });
    const item = element("li");
    const swatch = svg("svg", { viewBox: "0 0 24 8", width: 24, height: 8, "aria-hidden": "true" });
    swatch.append(
      svg("line", { x1: 0, x2: 24, y1: 4, y2: 4, stroke: colour, "stroke-dasharray": dash, class: "series" }),
    );
    item.append(swatch, ` ${series.provider} · ${OUTCOME_WORDS[series.outcome] ?? series.outcome}: ${total}`);
    legend.push(item);
  }
  if (legend.length === 0) legend.push(element("li", "empty", "No decisions in the last 15 minutes."));
  $("auth-chart").replaceChildren(chart);
  $("auth-legend").replaceChildren(...legend);
  $("refused-count").textContent = String(refused);
}

// ---- policy denials ----

async function fetchDenials() {
  const { rules } = await api("/api/policy/denials");
  const max = Math.max(1, ...rules.map((rule) => rule.count));
  $("denials").replaceChildren(
    ...rules.map((rule) => {
      const item = element("li");
      const bar = element("span", "bar");
      bar.style.width = `${(rule.count / max) * 100}%`; // CSSOM, allowed by the CSP (no style attribute)
      const label = element("span", "bar-label", `${rule.rule} (${rule.listener})`);
      label.title = label.textContent;
      item.append(label, bar, element("span", "bar-value", String(rule.count)));
      return item;
    }),
  );
  $("denials-empty").hidden = rules.length > 0;
  $("denial-count").textContent = String(rules.reduce((sum, rule) => sum + rule.count, 0));
}

// ---- polling ----

function poll(tasks, intervalMs) {
  const run = async () => {
    if (!document.hidden) {
      const results = await Promise.allSettled(tasks.map((task) => task()));
      const failure = results.find((result) => result.status === "rejected");
      if (failure) showConnection(`error: ${failure.reason.message ?? failure.reason}`, "error");
      else if (tokenPrompt === null)
        showConnection(`live · updated ${new Date().toLocaleTimeString([], { hour12: false })}`);
    }
    setTimeout(run, intervalMs);
  };
  void run();
}

function wireControls() {
  $("tunnel-filter").addEventListener("input", (event) => {
    tunnels.filter = event.currentTarget.value;
    renderTunnels();
  });
  for (const button of document.querySelectorAll("#tunnels th button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      tunnels.sort = { key, direction: tunnels.sort.key === key ? -tunnels.sort.direction : 1 };
      renderTunnels();
    });
  }
  $("token-dialog").addEventListener("cancel", (event) => event.preventDefault()); // the page needs it
}

wireControls();
poll([fetchSessions, fetchRecent], FAST_POLL_MS);
poll([fetchProviders, fetchSeries, fetchDenials], SLOW_POLL_MS);
