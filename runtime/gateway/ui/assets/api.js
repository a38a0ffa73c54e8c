// The gateway's HTTP API as the portal uses it. Same origin, so the browser sends its basic-auth credentials.

// Absolute URL on the page's origin. A page opened as http://user:password@host/ui/ has the credentials in its
// own URL, and fetch() refuses a relative path resolved against it; the origin never carries them (the browser
// still sends the credentials it authenticated the page with).
const onOrigin = (path) => new URL(path, window.location.origin).href;

export class ApiError extends Error {
  constructor(message, status, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  let field;
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      message = body.error;
      field = body.field;
    }
  } catch {
    if (text) message = text.trim().slice(0, 300);
  }
  if (response.status === 401) message = "not signed in: the gateway refused these credentials";
  return new ApiError(message, response.status, field);
}

export async function request(method, path, body, { signal } = {}) {
  const init = { method, headers: { Accept: "application/json" }, signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(onOrigin(path), init);
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  if (!text) return { status: response.status, headers: response.headers };
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const q = (params) => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
};

export const api = {
  info: () => request("GET", "/system/info"),
  uiInfo: () => request("GET", "/system/ui/info"),
  namespaces: () => request("GET", "/system/namespaces"),
  functions: (namespace) => request("GET", `/system/functions${q({ namespace })}`),
  function: (name, namespace) =>
    request("GET", `/system/function/${encodeURIComponent(name)}${q({ namespace })}`),
  deploy: (spec) => request("POST", "/system/functions", spec),
  update: (spec) => request("PUT", "/system/functions", spec),
  remove: (name, namespace) => request("DELETE", "/system/functions", { functionName: name, namespace }),
  scale: (name, namespace, replicas) =>
    request("POST", `/system/scale-function/${encodeURIComponent(name)}${q({ namespace })}`, {
      serviceName: name,
      namespace,
      replicas,
    }),
  secrets: (namespace) => request("GET", `/system/secrets${q({ namespace })}`),
  createSecret: (name, namespace, value) => request("POST", "/system/secrets", { name, namespace, value }),
  deleteSecret: (name, namespace) => request("DELETE", "/system/secrets", { name, namespace }),
  summary: (namespace) => request("GET", `/system/ui/summary${q({ namespace })}`),
  series: (name, namespace, seconds) =>
    request("GET", `/system/ui/series${q({ name, namespace, seconds })}`),
  store: () => request("GET", "/system/ui/store"),
  storeDeployment: (source, name, namespace) =>
    request("POST", "/system/ui/store/deployment", { source, name, namespace }),
  asyncCall: (callId) => request("GET", `/system/async/${encodeURIComponent(callId)}`),
  deadLetters: () => request("GET", "/system/async/dead-letters"),
  redrive: (callId) => request("POST", `/system/async/dead-letters/${encodeURIComponent(callId)}/redrive`),
  purgeLetter: (callId) => request("DELETE", `/system/async/dead-letters/${encodeURIComponent(callId)}`),
};

// Follow /system/logs as NDJSON through a streaming fetch; onLine gets each parsed message.
// Resolves when the stream ends (the gateway closes a follow after its write timeout).
export async function followLogs({ name, namespace, tail = 100, since, signal, onLine }) {
  const path = `/system/logs${q({ name, namespace, tail, since, follow: "true" })}`;
  const response = await fetch(onOrigin(path), { signal, headers: { Accept: "application/x-ndjson" } });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      try {
        onLine(JSON.parse(line));
      } catch {
        onLine({ text: line, timestamp: "", instance: "" });
      }
    }
  }
}

// Call a function the way a client would; the reply is described, never thrown for HTTP statuses.
export async function invoke({ name, namespace, method, path, headers, body, signal }) {
  const target = namespace ? `${name}.${namespace}` : name;
  const suffix = path && path !== "/" ? (path.startsWith("/") ? path : `/${path}`) : "";
  const init = { method, headers, signal };
  if (body && !["GET", "HEAD"].includes(method)) init.body = body;
  const started = performance.now();
  const response = await fetch(onOrigin(`/function/${encodeURIComponent(target)}${suffix}`), init);
  const text = await response.text();
  const duration = performance.now() - started;
  return {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers.entries()],
    body: text,
    duration,
  };
}
