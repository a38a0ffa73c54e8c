// Secrets of the current namespace: list (names only), create, delete.

import { api } from "./api.js";
import { h, clear, field } from "./dom.js";

export function renderSecrets(main, ctx) {
  const namespace = ctx.namespace;
  const name = h("input", { type: "text", required: true, autocomplete: "off", spellcheck: "false", pattern: "[a-z0-9]([-a-z0-9.]*[a-z0-9])?" });
  const value = h("textarea", { rows: 3, required: true, spellcheck: "false", autocomplete: "off" });
  const message = h("div", { "aria-live": "assertive" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "secret-create-title" },
    h("h2", { id: "secret-create-title" }, "Create a secret"),
    field("Secret name", name, "lowercase letters, digits, '-' and '.'"),
    field("Value", value, "stored by the provider; never shown again"),
    message,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create")),
  );
  const body = h("tbody");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  clear(
    main,
    h("h1", {}, "Secrets"),
    h("div", { class: "two" },
      h("section", { class: "card", "aria-labelledby": "secret-list-title" },
        h("h2", { id: "secret-list-title" }, `In ${namespace}`),
        status,
        h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))), body),
      ),
      form,
    ),
  );
  let stopped = false;

  async function refresh() {
    try {
      const secrets = await api.secrets(namespace);
      if (stopped) return;
      status.textContent = secrets.length ? `${secrets.length} secret${secrets.length === 1 ? "" : "s"}` : "No secrets yet.";
      clear(
        body,
        secrets
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((secret) => {
            const remove = h("button", { type: "button", class: "danger small", "aria-label": `Delete secret ${secret.name}` }, "Delete");
            remove.addEventListener("click", async () => {
              if (!confirm(`Delete secret ${secret.name}? Functions that use it lose it at their next start.`)) return;
              try {
                await api.deleteSecret(secret.name, namespace);
                ctx.toast(`Deleted secret ${secret.name}`);
                refresh();
              } catch (error) {
                ctx.toast(`Delete failed: ${error.message}`, "error");
              }
            });
            return h("tr", { "data-name": secret.name }, h("th", { scope: "row" }, secret.name), h("td", {}, remove));
          }),
      );
    } catch (error) {
      if (!stopped) status.textContent = `Cannot list secrets: ${error.message}`;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    try {
      await api.createSecret(name.value.trim(), namespace, value.value);
      ctx.toast(`Created secret ${name.value.trim()}`);
      name.value = "";
      value.value = "";
      refresh();
    } catch (error) {
      clear(message, h("p", { class: "error", role: "alert" }, `Create failed: ${error.message}`));
      (error.field === "value" ? value : name).focus();
    }
  });
  refresh();
  return () => {
    stopped = true;
  };
}
