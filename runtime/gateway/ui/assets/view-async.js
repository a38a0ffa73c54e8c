// Async calls: look a call up by its X-Call-Id; list dead letters, redrive or purge them.

import { api } from "./api.js";
import { h, clear, field } from "./dom.js";

export function renderAsync(main, ctx) {
  if (!ctx.info.async) {
    clear(
      main,
      h("h1", {}, "Async calls"),
      h("p", { class: "card" }, "Asynchronous invocation is not enabled on this gateway: it is registered when NATS is configured (nats_url). ", h("code", {}, "pyfaas up"), " starts NATS and the worker."),
    );
    return null;
  }
  const callId = h("input", { type: "text", required: true, autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9_-]{1,128}" });
  const callResult = h("div", { "aria-live": "polite" });
  const lookup = h(
    "form",
    { class: "card", "aria-labelledby": "call-title" },
    h("h2", { id: "call-title" }, "Call status"),
    field("Call id", callId, "the X-Call-Id header of the 202 answer"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Look up")),
    callResult,
  );
  const body = h("tbody");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const reload = h("button", { type: "button", class: "secondary" }, "Reload");
  clear(
    main,
    h("h1", {}, "Async calls"),
    lookup,
    h(
      "section",
      { class: "card", "aria-labelledby": "dead-title" },
      h("div", { class: "card-head" }, h("h2", { id: "dead-title" }, "Dead letters"), reload),
      status,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Call id", "Function", "Status", "Attempts", "Error", "Dead since", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
        body,
      ),
    ),
  );
  let stopped = false;

  lookup.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = callId.value.trim();
    if (!id) return;
    try {
      const record = await api.asyncCall(id);
      clear(callResult, h("dl", { class: "config" }, Object.entries(record).map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))])));
    } catch (error) {
      clear(callResult, h("p", { class: "error" }, error.message));
    }
  });

  async function refresh() {
    try {
      const letters = await api.deadLetters();
      if (stopped) return;
      status.textContent = letters.count ? `${letters.count} dead letter${letters.count === 1 ? "" : "s"}` : "No dead letters.";
      clear(
        body,
        letters.items.map((item) => {
          const redrive = h("button", { type: "button", class: "small", "aria-label": `Redrive ${item.callId}` }, "Redrive");
          const purge = h("button", { type: "button", class: "small danger", "aria-label": `Purge ${item.callId}` }, "Purge");
          redrive.addEventListener("click", async () => {
            try {
              await api.redrive(item.callId);
              ctx.toast(`Queued ${item.callId} again`);
              refresh();
            } catch (error) {
              ctx.toast(`Redrive failed: ${error.message}`, "error");
            }
          });
          purge.addEventListener("click", async () => {
            if (!confirm(`Purge dead letter ${item.callId}?`)) return;
            try {
              await api.purgeLetter(item.callId);
              refresh();
            } catch (error) {
              ctx.toast(`Purge failed: ${error.message}`, "error");
            }
          });
          return h(
            "tr",
            { "data-call-id": item.callId },
            h("th", { scope: "row" }, h("code", {}, item.callId)),
            h("td", {}, `${item.function}.${item.namespace}`),
            h("td", {}, item.status ?? "–"),
            h("td", {}, item.attempts ?? "–"),
            h("td", { class: "wrap" }, item.error || "–"),
            h("td", {}, item.deadLetteredAt ? new Date(item.deadLetteredAt).toLocaleString() : "–"),
            h("td", { class: "row-actions" }, redrive, " ", purge),
          );
        }),
      );
    } catch (error) {
      if (!stopped) status.textContent = `Cannot list dead letters: ${error.message}`;
    }
  }
  reload.addEventListener("click", refresh);
  refresh();
  const timer = setInterval(refresh, 5000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
