// One function: status, scale/update/delete, live charts, the invoke panel and streaming logs.

import { api, followLogs, invoke } from "./api.js";
import { drawChart } from "./chart.js";
import { h, clear, field, formatNumber, formatPercent, formatSeconds, formatPairs, parseHeaders } from "./dom.js";
import { labelChips, sourceCell } from "./view-functions.js";

const MAX_LOG_LINES = 500;

function chartCard(name, title, legend) {
  const plot = h("div", { class: "plot", "data-plot": name });
  const values = h("dl", { class: "legend" });
  return { card: h("section", { class: "card chart-card", "aria-label": title }, h("h3", {}, title), values, plot), plot, values, legend };
}

function setLegend(values, items) {
  clear(values, items.map(([tone, label, text]) => [h("dt", { class: `tone-${tone}` }, label), h("dd", {}, text)]));
}

function lastValue(list) {
  for (let i = list.length - 1; i >= 0; i--) if (list[i] !== null && list[i] !== undefined) return list[i];
  return null;
}

export function renderFunction(main, ctx, name, namespace) {
  const abort = new AbortController();
  let stopped = false;
  let windowSeconds = 300;

  const title = h("h1", {}, name, h("span", { class: "ns" }, ` .${namespace}`));
  const statusLine = h("div", { class: "status-line", "aria-live": "polite" });
  const replicasInput = h("input", { type: "number", min: 0, step: 1, value: 1, inputmode: "numeric", required: true });
  const scaleForm = h(
    "form",
    { class: "inline-form", "aria-label": "Scale" },
    field("Replicas", replicasInput),
    h("button", { type: "submit" }, "Scale"),
  );
  const deleteButton = h("button", { type: "button", class: "danger" }, "Delete");
  const actions = h(
    "div",
    { class: "actions" },
    scaleForm,
    h("a", { class: "button secondary", href: `#/deploy/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}` }, "Update"),
    deleteButton,
  );

  const rps = chartCard("rps", "Requests per second");
  const errors = chartCard("errors", "Error rate (5xx)");
  const latency = chartCard("latency", "Latency");
  const windowSelect = h(
    "select",
    { id: "chart-window" },
    [60, 300].map((s) => h("option", { value: s, selected: s === windowSeconds }, s === 60 ? "last minute" : "last 5 minutes")),
  );
  const chartSource = h("small", { class: "muted" });

  // invoke panel
  const method = h("select", { id: "invoke-method" }, ["POST", "GET", "PUT", "PATCH", "DELETE"].map((m) => h("option", { value: m }, m)));
  const path = h("input", { id: "invoke-path", type: "text", value: "/", autocomplete: "off" });
  const headers = h("textarea", { id: "invoke-headers", rows: 3, placeholder: "Content-Type: application/json", spellcheck: "false" });
  const body = h("textarea", { id: "invoke-body", rows: 5, spellcheck: "false" });
  // private functions (com.pyfaas.private): an API key or token, sent as Authorization: Bearer, kept in the page only
  const functionKey = h("input", { id: "invoke-key", type: "password", autocomplete: "off", spellcheck: "false" });
  const send = h("button", { type: "submit" }, "Invoke");
  const result = h("div", { class: "invoke-result", "aria-live": "polite" });
  const invokeForm = h(
    "form",
    { class: "card invoke", "aria-labelledby": "invoke-title" },
    h("h2", { id: "invoke-title" }, "Invoke"),
    h("div", { class: "row" }, field("Method", method), field("Path", path, "appended to /function/NAME")),
    field("Headers", headers, "one Name: value per line"),
    field("Function key", functionKey, "private functions: API key or token (pyfaas key create NAME)"),
    field("Body", body),
    h("div", { class: "actions" }, send, h("small", { class: "muted" }, "Ctrl+Enter sends")),
    result,
  );

  // logs
  const logList = h("ol", { class: "logs", "aria-label": "log lines" });
  const logState = h("span", { class: "muted" });
  const pause = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Pause");
  const logCard = h(
    "section",
    { class: "card", "aria-labelledby": "logs-title" },
    h("div", { class: "card-head" }, h("h2", { id: "logs-title" }, "Logs"), logState, pause),
    h("div", { class: "log-scroll", tabindex: 0, "aria-label": "recent logs" }, logList),
  );

  const details = h("div", { class: "details" });

  clear(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/functions" }, "Functions"), " / ", namespace),
    h("div", { class: "page-head" }, title, actions),
    statusLine,
    h(
      "section",
      { class: "charts", "aria-labelledby": "charts-title" },
      h("div", { class: "card-head" }, h("h2", { id: "charts-title" }, "Traffic"), field("Window", windowSelect), chartSource),
      h("div", { class: "chart-grid" }, rps.card, errors.card, latency.card),
    ),
    h("div", { class: "two" }, invokeForm, logCard),
    details,
  );

  let current = null;
  let shownConfig = "";
  let scaleDirty = false;
  replicasInput.addEventListener("input", () => (scaleDirty = true));

  async function refreshStatus() {
    if (document.hidden && current) return; // a background tab does not poll
    try {
      const fn = await api.function(name, namespace);
      if (stopped) return;
      current = fn;
      const ready = fn.availableReplicas ?? 0;
      const desired = fn.replicas ?? 0;
      clear(
        statusLine,
        h("span", { class: `pill ${desired === 0 ? "idle" : ready >= desired ? "ok" : "pending"}` }, `${ready}/${desired} ready`),
        h("span", { class: "pill" }, `${formatNumber(fn.invocationCount ?? 0, 0)} invocations`),
        sourceCell(fn),
        fn.createdAt ? h("span", { class: "muted" }, `created ${new Date(fn.createdAt).toLocaleString()}`) : null,
      );
      if (!scaleDirty && document.activeElement !== replicasInput) replicasInput.value = desired;
      // redraw the configuration only when it changed, keeping it open if the user opened it
      const config = JSON.stringify([fn.labels, fn.annotations, fn.envVars, fn.secrets]);
      if (config === shownConfig) return;
      shownConfig = config;
      const wasOpen = details.querySelector("details")?.open;
      clear(
        details,
        h(
          "details",
          { class: "card", open: Boolean(wasOpen) },
          h("summary", {}, "Configuration"),
          h(
            "dl",
            { class: "config" },
            h("dt", {}, "Labels"), h("dd", {}, labelChips(fn.labels)),
            h("dt", {}, "Annotations"), h("dd", {}, labelChips(fn.annotations)),
            h("dt", {}, "Environment"), h("dd", {}, h("pre", {}, formatPairs(fn.envVars) || "–")),
            h("dt", {}, "Secrets"), h("dd", {}, (fn.secrets || []).join(", ") || "–"),
          ),
        ),
      );
    } catch (error) {
      if (stopped) return;
      clear(statusLine, h("span", { class: "error" }, error.status === 404 ? "This function does not exist (any more)." : error.message));
    }
  }

  async function refreshCharts() {
    if (document.hidden && chartSource.textContent) return;
    try {
      const data = await api.series(name, namespace, windowSeconds);
      if (stopped) return;
      const now = data.now ?? Date.now() / 1000;
      chartSource.textContent = data.fallback || `source: ${data.source}, every ${formatNumber(data.interval, 1)} s`;
      drawChart(rps.plot, {
        name: "rps", label: "requests per second", t: data.t, now, windowSeconds, minMax: 1,
        series: [{ key: "rps", label: "req/s", values: data.rps, tone: "a" }], format: (v) => formatNumber(v),
      });
      drawChart(errors.plot, {
        name: "errors", label: "error rate", t: data.t, now, windowSeconds, minMax: 0.05,
        series: [{ key: "errorRatio", label: "errors", values: data.errorRatio, tone: "c" }], format: formatPercent,
      });
      drawChart(latency.plot, {
        name: "latency", label: "latency p50 and p99", t: data.t, now, windowSeconds, minMax: 0.01,
        series: [
          { key: "p50", label: "p50", values: data.p50, tone: "a" },
          { key: "p99", label: "p99", values: data.p99, tone: "b" },
        ],
        format: formatSeconds,
      });
      setLegend(rps.values, [["a", "now", `${formatNumber(lastValue(data.rps))} req/s`]]);
      setLegend(errors.values, [["c", "now", formatPercent(lastValue(data.errorRatio))]]);
      setLegend(latency.values, [["a", "p50", formatSeconds(lastValue(data.p50))], ["b", "p99", formatSeconds(lastValue(data.p99))]]);
    } catch (error) {
      if (!stopped) chartSource.textContent = `charts unavailable: ${error.message}`;
    }
  }

  // logs: follow; when the gateway ends a followed stream (write timeout) reconnect from the last line.
  let paused = false;
  let lastTimestamp = "";
  const recent = new Set();
  function addLine(message) {
    const key = `${message.timestamp}|${message.instance}|${message.text}`;
    if (recent.has(key)) return;
    recent.add(key);
    if (recent.size > 2000) recent.clear();
    if (message.timestamp) lastTimestamp = message.timestamp;
    const scroller = logList.parentElement;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 24;
    logList.append(
      h(
        "li",
        {},
        h("time", { datetime: message.timestamp }, message.timestamp ? new Date(message.timestamp).toLocaleTimeString() : ""),
        h("span", { class: "instance" }, (message.instance || "").slice(-8)),
        h("span", { class: "text" }, message.text),
      ),
    );
    while (logList.childElementCount > MAX_LOG_LINES) logList.firstElementChild.remove();
    if (atBottom && !paused) scroller.scrollTop = scroller.scrollHeight;
  }
  async function streamLogs() {
    let failures = 0;
    while (!stopped) {
      try {
        logState.textContent = "following";
        await followLogs({ name, namespace, tail: lastTimestamp ? 0 : 100, since: lastTimestamp || undefined, signal: abort.signal, onLine: addLine });
        failures = 0;
      } catch (error) {
        if (stopped || error.name === "AbortError") return;
        failures += 1;
        logState.textContent = `disconnected: ${error.message}`;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 500 * 2 ** failures)));
    }
  }
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume scrolling" : "Pause";
  });

  // actions
  scaleForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const replicas = Number(replicasInput.value);
    if (!Number.isInteger(replicas) || replicas < 0) {
      ctx.toast("Replicas must be a whole number, 0 or more", "error");
      replicasInput.focus();
      return;
    }
    try {
      await api.scale(name, namespace, replicas);
      scaleDirty = false;
      ctx.toast(`Scaling ${name} to ${replicas}`);
      refreshStatus();
    } catch (error) {
      ctx.toast(`Scale failed: ${error.message}`, "error");
    }
  });
  deleteButton.addEventListener("click", async () => {
    if (!confirm(`Delete function ${name} in ${namespace}?`)) return;
    try {
      await api.remove(name, namespace);
      ctx.toast(`Deleted ${name}`);
      ctx.navigate("#/functions");
    } catch (error) {
      ctx.toast(`Delete failed: ${error.message}`, "error");
    }
  });
  invokeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    let headerMap;
    try {
      headerMap = parseHeaders(headers.value);
    } catch (error) {
      clear(result, h("p", { class: "error" }, error.message));
      headers.focus();
      return;
    }
    if (functionKey.value.trim()) headerMap.Authorization = `Bearer ${functionKey.value.trim()}`;
    send.disabled = true;
    clear(result, h("p", { class: "muted" }, "Calling…"));
    try {
      const reply = await invoke({ name, namespace, method: method.value, path: path.value, headers: headerMap, body: body.value, signal: abort.signal });
      clear(
        result,
        h(
          "div",
          { class: "reply-head" },
          h("span", { class: `pill status ${reply.status < 400 ? "ok" : "bad"}`, "data-status": reply.status }, `${reply.status} ${reply.statusText}`),
          h("span", { class: "duration" }, `${formatNumber(reply.duration, 1)} ms`),
        ),
        h("details", {}, h("summary", {}, `Headers (${reply.headers.length})`), h("dl", { class: "headers" }, reply.headers.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
        h("pre", { class: "reply-body", tabindex: 0, "aria-label": "response body" }, reply.body || "(empty body)"),
      );
      refreshCharts();
    } catch (error) {
      if (error.name !== "AbortError") clear(result, h("p", { class: "error" }, `Request failed: ${error.message}`));
    } finally {
      send.disabled = false;
    }
  });
  invokeForm.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      invokeForm.requestSubmit();
    }
  });
  windowSelect.addEventListener("change", () => {
    windowSeconds = Number(windowSelect.value);
    refreshCharts();
  });
  function onKey(event) {
    if (event.detail.key === "i") {
      event.detail.preventDefault();
      body.focus();
    }
  }
  main.addEventListener("pagekey", onKey);

  refreshStatus();
  refreshCharts();
  streamLogs();
  const statusTimer = setInterval(refreshStatus, 2000);
  const chartTimer = setInterval(refreshCharts, 1000);
  return () => {
    stopped = true;
    abort.abort();
    clearInterval(statusTimer);
    clearInterval(chartTimer);
    main.removeEventListener("pagekey", onKey);
  };
}
