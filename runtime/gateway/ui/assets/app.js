// The portal's shell: hash routes, the namespace selector, toasts and keyboard shortcuts.

import { api } from "./api.js";
import { h, clear } from "./dom.js";
import { renderFunctions } from "./view-functions.js";
import { renderFunction } from "./view-function.js";
import { renderDeploy } from "./view-deploy.js";
import { renderStore } from "./view-store.js";
import { renderSecrets } from "./view-secrets.js";
import { renderAsync } from "./view-async.js";

const main = document.getElementById("main");
const namespaceSelect = document.getElementById("namespace");
const toasts = document.getElementById("toasts");
const help = document.getElementById("help");

const ctx = {
  info: { defaultNamespace: "openfaas-fn", local: false, async: false },
  namespace: localStorage.getItem("pyfaas.namespace") || "",
  toast(message, kind = "info") {
    const item = h("div", { class: `toast ${kind}` }, message);
    toasts.append(item);
    setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
  },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

const routes = [
  [/^#\/functions$/, () => renderFunctions(main, ctx)],
  [/^#\/function\/([^/]+)\/([^/]+)$/, (m) => renderFunction(main, ctx, decodeURIComponent(m[2]), decodeURIComponent(m[1]))],
  [/^#\/deploy$/, () => renderDeploy(main, ctx)],
  [/^#\/deploy\/([^/]+)\/([^/]+)$/, (m) => renderDeploy(main, ctx, decodeURIComponent(m[2]), decodeURIComponent(m[1]))],
  [/^#\/store$/, () => renderStore(main, ctx)],
  [/^#\/secrets$/, () => renderSecrets(main, ctx)],
  [/^#\/async$/, () => renderAsync(main, ctx)],
];

let cleanup = null;

function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const hash = location.hash || "#/functions";
  for (const link of document.querySelectorAll("[data-nav]")) {
    const current = hash.startsWith(`#/${link.dataset.nav}`) || (link.dataset.nav === "functions" && hash.startsWith("#/function/"));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [pattern, render] of routes) {
    const match = hash.match(pattern);
    if (match) {
      cleanup = render(match) || null;
      return;
    }
  }
  clear(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/functions" }, "Back to the functions")));
}

async function loadNamespaces() {
  let names = [];
  try {
    names = await api.namespaces();
  } catch (error) {
    names = [];
  }
  if (!Array.isArray(names) || names.length === 0) names = [ctx.info.defaultNamespace];
  if (!ctx.namespace || !names.includes(ctx.namespace)) {
    ctx.namespace = names.includes(ctx.info.defaultNamespace) ? ctx.info.defaultNamespace : names[0];
  }
  clear(namespaceSelect, names.map((name) => h("option", { value: name, selected: name === ctx.namespace }, name)));
}

namespaceSelect.addEventListener("change", () => {
  ctx.namespace = namespaceSelect.value;
  localStorage.setItem("pyfaas.namespace", ctx.namespace);
  if (location.hash.startsWith("#/function/") || location.hash.startsWith("#/deploy/")) ctx.navigate("#/functions");
  else route();
});

// Keyboard: "g x" sequences, "/" to focus the page's first field, "?" for help. Never while typing.
let pendingG = 0;
const jumps = { f: "#/functions", d: "#/deploy", t: "#/store", s: "#/secrets", a: "#/async" };
document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (pendingG && Date.now() - pendingG < 1500 && jumps[event.key]) {
    event.preventDefault();
    pendingG = 0;
    ctx.navigate(jumps[event.key]);
    main.focus();
    return;
  }
  pendingG = 0;
  if (event.key === "g") {
    pendingG = Date.now();
  } else if (event.key === "?") {
    event.preventDefault();
    help.showModal();
  } else if (event.key === "/") {
    const first = main.querySelector("[data-shortcut-focus], input, select, textarea");
    if (first) {
      event.preventDefault();
      first.focus();
    }
  } else {
    main.dispatchEvent(new CustomEvent("pagekey", { detail: event }));
  }
});
document.getElementById("help-button").addEventListener("click", () => help.showModal());

// The company's theme (gateway settings ui_title, ui_logo, ui_links; ui_accent is /ui/theme.css).
function applyTheme(theme) {
  if (!theme) return;
  const brand = document.getElementById("brand");
  document.title = `${theme.title} portal`;
  brand.setAttribute("aria-label", `${theme.title} portal home`);
  brand.querySelector(".brand-title").textContent = theme.title;
  if (theme.logo) {
    brand.querySelector(".logo").replaceWith(h("img", { class: "brand-logo", src: theme.logo, alt: "" }));
  }
  const links = document.getElementById("brand-links");
  clear(links, (theme.links || []).map((link) => h("li", {}, h("a", { href: link.url, rel: "noreferrer" }, link.label))));
  links.parentElement.hidden = !theme.links || theme.links.length === 0;
}

async function start() {
  try {
    ctx.info = await api.uiInfo();
  } catch (error) {
    clear(main, h("h1", {}, "Cannot reach the gateway"), h("p", { class: "error" }, error.message));
    return;
  }
  applyTheme(ctx.info.theme);
  document.body.classList.toggle("no-async", !ctx.info.async);
  await loadNamespaces();
  window.addEventListener("hashchange", route);
  route();
}

start();
