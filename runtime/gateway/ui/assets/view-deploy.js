// Deploy a new function, or update an existing one (the same form, prefilled).

import { api } from "./api.js";
import { h, clear, field, formatPairs, parsePairs } from "./dom.js";

const NAME_RULE = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

export function renderDeploy(main, ctx, existingName, existingNamespace) {
  const updating = Boolean(existingName);
  const namespace = existingNamespace || ctx.namespace;
  let stopped = false;

  const name = h("input", { type: "text", name: "service", required: true, pattern: NAME_RULE, maxlength: 63, autocomplete: "off", spellcheck: "false", readonly: updating, value: existingName || "" });
  const handlerRadio = h("input", { type: "radio", name: "source", value: "handler", id: "source-handler" });
  const imageRadio = h("input", { type: "radio", name: "source", value: "image", id: "source-image" });
  const handler = h("input", { type: "text", name: "handler", autocomplete: "off", spellcheck: "false", placeholder: "/path/to/function" });
  const image = h("input", { type: "text", name: "image", autocomplete: "off", spellcheck: "false", placeholder: "ghcr.io/acme/fn:1.0" });
  const fprocess = h("input", { type: "text", name: "fprocess", autocomplete: "off", spellcheck: "false", placeholder: "optional, e.g. cat" });
  const env = h("textarea", { name: "env", rows: 4, spellcheck: "false", placeholder: "KEY=value" });
  const labels = h("textarea", { name: "labels", rows: 3, spellcheck: "false", placeholder: "com.openfaas.scale.min=1" });
  const secretsBox = h("fieldset", { class: "checks" }, h("legend", {}, "Secrets"), h("p", { class: "muted" }, "Loading secrets…"));
  const message = h("div", { class: "form-message", "aria-live": "assertive" });
  const submit = h("button", { type: "submit" }, updating ? "Update" : "Deploy");

  const handlerField = field("Handler folder", handler, "absolute path of a folder with handler.py (python3-http style); local mode");
  const imageField = field("Image", image, updating ? "" : "the container image (Kubernetes) or a label for local mode");
  const fprocessField = field("Command (fprocess)", fprocess, "run per request by the watchdog, instead of a handler");
  const form = h(
    "form",
    { class: "card deploy-form", "aria-labelledby": "deploy-title", novalidate: true },
    field("Name", name, updating ? "" : "lowercase letters, digits and '-', up to 63"),
    h("p", { class: "muted" }, `Namespace: ${namespace}`),
    h(
      "fieldset",
      { class: "radios" },
      h("legend", {}, "Runs from"),
      h("label", { for: "source-handler" }, handlerRadio, " handler folder"),
      h("label", { for: "source-image" }, imageRadio, " image"),
    ),
    handlerField,
    imageField,
    fprocessField,
    field("Environment", env, "one KEY=value per line"),
    field("Labels", labels, "one key=value per line"),
    secretsBox,
    message,
    h("div", { class: "actions" }, submit, h("a", { class: "button secondary", href: updating ? `#/function/${encodeURIComponent(namespace)}/${encodeURIComponent(existingName)}` : "#/functions" }, "Cancel")),
  );
  clear(main, h("h1", { id: "deploy-title" }, updating ? `Update ${existingName}` : "Deploy a function"), form);

  function showSource() {
    const fromHandler = handlerRadio.checked;
    handlerField.hidden = !fromHandler;
    fprocessField.hidden = fromHandler;
  }
  handlerRadio.addEventListener("change", showSource);
  imageRadio.addEventListener("change", showSource);
  (ctx.info.local ? handlerRadio : imageRadio).checked = true;
  showSource();

  let original = null;
  let chosenSecrets = new Set();

  async function loadSecrets() {
    try {
      const list = await api.secrets(namespace);
      if (stopped) return;
      const items = list.map((s) => {
        const box = h("input", { type: "checkbox", name: "secret", value: s.name, id: `secret-${s.name}`, checked: chosenSecrets.has(s.name) });
        return h("label", { for: `secret-${s.name}` }, box, ` ${s.name}`);
      });
      clear(secretsBox, h("legend", {}, "Secrets"), items.length ? items : h("p", { class: "muted" }, "No secrets in this namespace (create them on the Secrets page)."));
    } catch (error) {
      clear(secretsBox, h("legend", {}, "Secrets"), h("p", { class: "error" }, `Cannot list secrets: ${error.message}`));
    }
  }

  async function loadExisting() {
    try {
      original = await api.function(existingName, namespace);
    } catch (error) {
      clear(message, h("p", { class: "error" }, `Cannot load ${existingName}: ${error.message}`));
      return;
    }
    const vars = { ...(original.envVars || {}) };
    if (vars.handler) {
      handlerRadio.checked = true;
      handler.value = vars.handler;
      delete vars.handler;
      if (vars.mode === "python") delete vars.mode;
    } else {
      imageRadio.checked = true;
    }
    image.value = original.image || "";
    fprocess.value = original.envProcess || "";
    env.value = formatPairs(vars);
    labels.value = formatPairs(original.labels);
    chosenSecrets = new Set(original.secrets || []);
    showSource();
  }

  function fail(text, control) {
    clear(message, h("p", { class: "error", role: "alert" }, text));
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.focus();
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    clear(message);
    const service = name.value.trim();
    if (!new RegExp(`^${NAME_RULE}$`).test(service) || service.length > 63) return fail("Name: lowercase letters, digits and '-', starting and ending with a letter or digit", name);
    let envVars;
    let labelMap;
    try {
      envVars = parsePairs(env.value, "Environment");
    } catch (error) {
      return fail(error.message, env);
    }
    try {
      labelMap = parsePairs(labels.value, "Labels");
    } catch (error) {
      return fail(error.message, labels);
    }
    const spec = { ...(original ? stripStatus(original) : {}), service, namespace, labels: labelMap };
    if (handlerRadio.checked) {
      if (!handler.value.trim()) return fail("Handler folder is required", handler);
      envVars = { mode: "python", ...envVars, handler: handler.value.trim() };
      spec.image = image.value.trim() || "local";
      delete spec.envProcess;
    } else {
      if (!image.value.trim()) return fail("Image is required", image);
      spec.image = image.value.trim();
      spec.envProcess = fprocess.value.trim() || undefined;
    }
    spec.envVars = envVars;
    spec.secrets = [...form.querySelectorAll("input[name=secret]:checked")].map((box) => box.value);
    submit.disabled = true;
    try {
      await (updating ? api.update(spec) : api.deploy(spec));
      ctx.toast(`${updating ? "Updated" : "Deployed"} ${service}`);
      ctx.navigate(`#/function/${encodeURIComponent(namespace)}/${encodeURIComponent(service)}`);
    } catch (error) {
      const controls = { service: name, image, envVars: env, labels, handler, envProcess: fprocess };
      fail(`${updating ? "Update" : "Deploy"} failed: ${error.message}`, controls[(error.field || "").split(".")[0]]);
    } finally {
      submit.disabled = false;
    }
  });

  (async () => {
    if (updating) await loadExisting();
    await loadSecrets();
  })();
  return () => {
    stopped = true;
  };
}

function stripStatus(status) {
  const { name, invocationCount, replicas, availableReplicas, createdAt, usage, ...rest } = status;
  return rest;
}
