// The function store: one-click deploys of catalog entries (the deployment comes ready from the gateway).

import { api } from "./api.js";
import { h, clear } from "./dom.js";

export function renderStore(main, ctx) {
  const namespace = ctx.namespace;
  const list = h("ul", { class: "store-grid", "aria-label": "store functions" });
  const note = h("p", { class: "muted" });
  clear(main, h("h1", {}, "Function store"), note, list);
  let stopped = false;

  async function deploy(entry, button) {
    button.disabled = true;
    try {
      await api.deploy({ ...entry.deployment, namespace });
      ctx.toast(`Deployed ${entry.deployment.service} from the store`);
      ctx.navigate(`#/function/${encodeURIComponent(namespace)}/${encodeURIComponent(entry.deployment.service)}`);
    } catch (error) {
      ctx.toast(`Deploy of ${entry.name} failed: ${error.message}`, "error");
      button.disabled = false;
    }
  }

  (async () => {
    let catalog;
    let existing = new Set();
    try {
      [catalog, existing] = await Promise.all([
        api.store(),
        api.functions(namespace).then((fns) => new Set(fns.map((fn) => fn.name))).catch(() => new Set()),
      ]);
    } catch (error) {
      if (!stopped) note.textContent = `Cannot read the store: ${error.message}`;
      return;
    }
    if (stopped) return;
    note.textContent = catalog.local
      ? `Local mode: entries run from their bundled handler folders. Deploys go to ${namespace}.`
      : `Entries deploy their images. Deploys go to ${namespace}.`;
    clear(
      list,
      catalog.functions.map((entry) => {
        const button = h("button", { type: "button", disabled: !entry.deployment, "aria-label": `Deploy ${entry.title}` }, "Deploy");
        if (entry.deployment && existing.has(entry.deployment.service)) {
          button.disabled = true;
          button.textContent = "Deployed";
        }
        button.addEventListener("click", () => deploy(entry, button));
        return h(
          "li",
          { class: "card store-item", "data-name": entry.name },
          h("h2", {}, entry.title),
          h("p", {}, entry.description || ""),
          h("p", { class: "muted" }, entry.lang ? `${entry.lang} · ` : "", h("code", {}, entry.image || entry.name)),
          entry.reason ? h("p", { class: "error" }, entry.reason) : null,
          h("div", { class: "actions" }, button, entry.repoUrl ? h("a", { href: entry.repoUrl, rel: "noreferrer" }, "source") : null),
        );
      }),
    );
  })();
  return () => {
    stopped = true;
  };
}
