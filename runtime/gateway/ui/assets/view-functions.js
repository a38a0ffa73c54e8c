// The function list of the current namespace, refreshed every two seconds.

import { api } from "./api.js";
import { h, clear, formatNumber, formatPercent, formatSeconds } from "./dom.js";

export function source(fn) {
  const env = fn.envVars || {};
  if (env.handler) return { kind: "handler", text: env.handler };
  if (fn.envProcess) return { kind: "fprocess", text: fn.envProcess, image: fn.image };
  return { kind: "image", text: fn.image };
}

export function sourceCell(fn) {
  const s = source(fn);
  return h("span", { class: "source" }, h("span", { class: "tag" }, s.kind), " ", h("code", {}, s.text));
}

export function labelChips(labels) {
  const entries = Object.entries(labels || {});
  if (!entries.length) return h("span", { class: "muted" }, "–");
  return h("ul", { class: "chips", "aria-label": "labels" }, entries.map(([k, v]) => h("li", {}, `${k}=${v}`)));
}

export function renderFunctions(main, ctx) {
  const namespace = ctx.namespace;
  const filter = h("input", { type: "search", id: "filter", placeholder: "name or label", autocomplete: "off", "data-shortcut-focus": true });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const body = h("tbody");
  const table = h(
    "table",
    { class: "functions", "aria-describedby": "functions-caption" },
    h("caption", { id: "functions-caption" }, `Functions in ${namespace}; figures cover the last minute`),
    h(
      "thead",
      {},
      h("tr", {}, ["Name", "Ready", "Invocations", "Req/s", "Error rate", "p99", "Image or handler", "Labels"].map((c) => h("th", { scope: "col" }, c))),
    ),
    body,
  );
  clear(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Functions"),
      h("div", { class: "actions" }, h("a", { class: "button", href: "#/deploy" }, "Deploy a function")),
    ),
    h("div", { class: "field inline" }, h("label", { for: "filter" }, "Filter"), filter),
    status,
    table,
  );

  let functions = [];
  let summary = {};
  let stopped = false;

  let drawn = "";

  function draw() {
    const needle = filter.value.trim().toLowerCase();
    // rebuild the rows only when something shown changed (keeps focus, hover and selection steady)
    const state = JSON.stringify([needle, functions, summary]);
    if (state === drawn) return;
    drawn = state;
    const shown = functions.filter((fn) => {
      if (!needle) return true;
      const labels = Object.entries(fn.labels || {}).map(([k, v]) => `${k}=${v}`).join(" ");
      return `${fn.name} ${labels} ${fn.image}`.toLowerCase().includes(needle);
    });
    const focusedName = document.activeElement?.closest?.("tr")?.dataset?.name;
    clear(
      body,
      shown.map((fn) => {
        const s = summary[fn.name] || {};
        const ready = fn.availableReplicas ?? 0;
        const desired = fn.replicas ?? 0;
        const state = desired === 0 ? "idle" : ready >= desired ? "ok" : "pending";
        return h(
          "tr",
          { "data-name": fn.name },
          h("th", { scope: "row" }, h("a", { href: `#/function/${encodeURIComponent(namespace)}/${encodeURIComponent(fn.name)}`, class: "fn-link" }, fn.name)),
          // data-label: on a narrow screen each row is a card and each cell shows its column's name
          h("td", { class: `replicas ${state}`, title: `${ready} ready of ${desired} desired`, "data-label": "Ready" }, `${ready}/${desired}`),
          h("td", { class: "num", "data-label": "Invocations" }, formatNumber(fn.invocationCount ?? 0, 0)),
          h("td", { class: "num", "data-label": "Req/s" }, formatNumber(s.rate ?? 0)),
          h("td", { class: `num ${s.errorRatio > 0 ? "bad" : ""}`, "data-label": "Error rate" }, formatPercent(s.errorRatio ?? null)),
          h("td", { class: "num", "data-label": "p99" }, formatSeconds(s.p99 ?? null)),
          h("td", { class: "source-cell", "data-label": "Image or handler" }, sourceCell(fn)),
          h("td", { "data-label": "Labels" }, labelChips(fn.labels)),
        );
      }),
    );
    if (focusedName) body.querySelector(`tr[data-name="${CSS.escape(focusedName)}"] a`)?.focus();
    status.textContent = functions.length
      ? `${shown.length} of ${functions.length} function${functions.length === 1 ? "" : "s"}`
      : "No functions in this namespace yet.";
  }

  async function refresh() {
    if (document.hidden && functions.length) return; // a background tab does not poll
    try {
      const [list, sums] = await Promise.all([api.functions(namespace), api.summary(namespace).catch(() => ({ functions: {} }))]);
      if (stopped) return;
      functions = list.sort((a, b) => a.name.localeCompare(b.name));
      summary = sums.functions || {};
      draw();
    } catch (error) {
      if (!stopped) {
        status.textContent = `Cannot list functions: ${error.message}`;
        status.className = "error";
      }
    }
  }

  function onKey(event) {
    const key = event.detail.key;
    if (key !== "j" && key !== "k") return;
    const links = [...body.querySelectorAll("a.fn-link")];
    if (!links.length) return;
    const at = links.indexOf(document.activeElement);
    const next = key === "j" ? Math.min(links.length - 1, at + 1) : Math.max(0, at < 0 ? 0 : at - 1);
    links[next].focus();
  }

  filter.addEventListener("input", draw);
  main.addEventListener("pagekey", onKey);
  refresh();
  const timer = setInterval(refresh, 2000);
  return () => {
    stopped = true;
    clearInterval(timer);
    main.removeEventListener("pagekey", onKey);
  };
}
