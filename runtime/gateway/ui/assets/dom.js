// Tiny DOM helpers: build elements without innerHTML (the CSP forbids inline code, and text stays text).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let fieldCounter = 0;

// A labelled form field: <div class="field"><label for=id>label</label><control id=id></div>.
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCounter}`;
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, parts);
}

// "KEY=VALUE" lines <-> object (blank lines and lines starting with # are ignored).
export function parsePairs(text, what) {
  const out = {};
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const at = line.indexOf("=");
    if (at <= 0) throw new Error(`${what}, line ${index + 1}: expected KEY=VALUE`);
    out[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return out;
}

// HTTP headers, one a line, as "Name: value" or "Name=value".
export function parseHeaders(text) {
  const out = {};
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    const equals = line.indexOf("=");
    const at = colon > 0 && (equals < 0 || colon < equals) ? colon : equals;
    if (at <= 0) throw new Error(`Headers, line ${index + 1}: expected Name: value`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

export function formatPairs(obj) {
  return Object.entries(obj || {})
    .map(([key, value]) => `${key}=${value}`)
    .join("\n");
}

export function formatNumber(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
  return Number(value.toFixed(digits)).toString();
}

export function formatSeconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return `${formatNumber(value * 1000, value < 0.01 ? 2 : 1)} ms`;
  return `${formatNumber(value, 2)} s`;
}

export function formatPercent(value) {
  if (value === null || value === undefined) return "–";
  return `${formatNumber(value * 100, value < 0.01 ? 2 : 1)}%`;
}
