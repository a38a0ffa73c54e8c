// The function store: every source the gateway lists (store_sources), in its order and under its own name.
// An entry that cannot run on this gateway says why; deploying asks for the secrets it needs that the
// namespace lacks, creates them, then gets the deployment from the gateway and POSTs it like any other.

import { api } from "./api.js";
import { h, clear, field } from "./dom.js";

// Ask for the values of the secrets `names` in a modal form; resolves to {name: value} or null (cancelled).
function promptSecrets(entry, names, namespace) {
  return new Promise((resolve) => {
    const inputs = names.map((name) => h("input", { type: "password", required: true, autocomplete: "off", spellcheck: "false", "data-secret": name }));
    const titleId = `secret-prompt-${entry.name}`;
    const cancel = h("button", { type: "button", class: "ghost" }, "Cancel");
    const form = h(
      "form",
      { class: "secret-prompt", method: "dialog" },
      h("h2", { id: titleId }, `Secrets for ${entry.title}`),
      h("p", { class: "muted" }, `${entry.title} reads ${names.length === 1 ? "this secret" : "these secrets"}, missing in ${namespace}. ${names.length === 1 ? "It is" : "They are"} created before the deploy and never shown again.`),
      names.map((name, index) => field(name, inputs[index], "secret value")),
      h("div", { class: "actions" }, cancel, h("button", { type: "submit" }, "Create and deploy")),
    );
    const dialog = h("dialog", { "aria-labelledby": titleId, class: "secret-dialog" }, form);
    let answer = null;
    form.addEventListener("submit", () => {
      answer = Object.fromEntries(names.map((name, index) => [name, inputs[index].value]));
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    inputs[0].focus();
  });
}

export function renderStore(main, ctx) {
  const namespace = ctx.namespace;
  const note = h("p", { class: "muted" }, "Reading the stores…");
  const sections = h("div", { class: "store-sources" });
  clear(main, h("h1", {}, "Function store"), note, sections);
  let stopped = false;

  async function deploy(source, entry, button) {
    button.disabled = true;
    try {
      if (entry.secrets.length) {
        const present = new Set((await api.secrets(namespace)).map((secret) => secret.name));
        const missing = entry.secrets.filter((name) => !present.has(name));
        if (missing.length) {
          const values = await promptSecrets(entry, missing, namespace);
          if (!values) {
            button.disabled = false;
            return;
          }
          for (const [name, value] of Object.entries(values)) await api.createSecret(name, namespace, value);
        }
      }
      const { deployment } = await api.storeDeployment(source.name, entry.name, namespace);
      await api.deploy({ ...deployment, namespace });
      ctx.toast(`Deployed ${deployment.service} from store ${source.name}`);
      ctx.navigate(`#/function/${encodeURIComponent(namespace)}/${encodeURIComponent(deployment.service)}`);
    } catch (error) {
      ctx.toast(`Deploy of ${entry.name} from ${source.name} failed: ${error.message}`, "error");
      button.disabled = false;
    }
  }

  function item(source, entry, existing) {
    const button = h("button", { type: "button", disabled: !entry.runnable, "aria-label": `Deploy ${entry.title} from ${source.name}` }, "Deploy");
    if (entry.runnable && existing.has(entry.name)) {
      button.disabled = true;
      button.textContent = "Deployed";
    }
    button.addEventListener("click", () => deploy(source, entry, button));
    return h(
      "li",
      { class: `card store-item${entry.runnable ? "" : " unavailable"}`, "data-name": entry.name, "data-source": source.name },
      h("h3", {}, entry.title),
      h("p", {}, entry.description || ""),
      h("p", { class: "muted" }, entry.lang ? `${entry.lang} · ` : "", h("code", {}, entry.image || entry.name)),
      entry.secrets.length ? h("p", { class: "muted secrets" }, `Needs secrets: ${entry.secrets.join(", ")}`) : null,
      entry.runnable ? null : h("p", { class: "reason" }, `Cannot run here: ${entry.reason}`),
      h("div", { class: "actions" }, button, entry.repoUrl ? h("a", { href: entry.repoUrl, rel: "noreferrer" }, "source") : null),
    );
  }

  function section(source, existing) {
    const headingId = `store-${source.name}`;
    const status = source.up
      ? h("span", { class: "badge up" }, `${source.functions.length} function${source.functions.length === 1 ? "" : "s"}`)
      : h("span", { class: "badge down" }, "down");
    return h(
      "section",
      { class: "store-source", "data-source": source.name, "aria-labelledby": headingId },
      h("header", {},
        h("h2", { id: headingId }, source.title, " ", h("span", { class: "badge" }, source.name)),
        status,
        h("code", { class: "muted" }, source.location),
      ),
      source.up ? null : h("p", { class: "error", role: "status" }, source.stale ? `${source.error}: showing the last copy it served.` : source.error),
      source.functions.length
        ? h("ul", { class: "store-grid", "aria-label": `${source.name} functions` }, source.functions.map((entry) => item(source, entry, existing)))
        : source.up ? h("p", { class: "muted" }, "No functions in this store.") : null,
    );
  }

  (async () => {
    let store;
    let existing = new Set();
    try {
      [store, existing] = await Promise.all([
        api.store(),
        api.functions(namespace).then((fns) => new Set(fns.map((fn) => fn.name))).catch(() => new Set()),
      ]);
    } catch (error) {
      if (!stopped) note.textContent = `Cannot read the stores: ${error.message}`;
      return;
    }
    if (stopped) return;
    note.textContent = store.local
      ? `Local mode: functions run from their source (handler folders, fetched or cloned as needed); image-only ones cannot. Deploys go to ${namespace}.`
      : `Functions deploy their ${store.platform} images. Deploys go to ${namespace}.`;
    clear(sections, store.sources.map((source) => section(source, existing)));
  })();
  return () => {
    stopped = true;
  };
}
