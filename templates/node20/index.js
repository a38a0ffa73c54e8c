'use strict'
// pyfaas node20 template: an HTTP server on Node's own http module (no dependencies) that turns each
// request into an event, calls function/handler.js and answers with what the handler gives back. The
// watchdog (http mode) starts it once and forwards every call to it on http_port.

const http = require('node:http')
const handler = require('./function/handler')

const port = Number(process.env.http_port || 3000)

class Context {
  constructor () {
    this.statusCode = 200
    this.headerValues = {}
    this.done = false
    this.value = undefined
    this.error = undefined
  }

  status (code) {
    if (code === undefined) return this.statusCode
    this.statusCode = code
    return this
  }

  headers (values) {
    if (values === undefined) return this.headerValues
    Object.assign(this.headerValues, values)
    return this
  }

  succeed (value) {
    this.done = true
    this.value = value
    return this
  }

  fail (error) {
    this.done = true
    this.error = error === undefined ? 'function failed' : error
    return this
  }
}

function queryOf (url) {
  const query = {}
  for (const [key, value] of url.searchParams) {
    if (!(key in query)) query[key] = value
    else if (Array.isArray(query[key])) query[key].push(value)
    else query[key] = [query[key], value]
  }
  return query
}

function bodyOf (raw, contentType) {
  const text = raw.toString('utf8')
  if (text && /^application\/([\w.+-]+\+)?json\b/i.test(contentType || '')) {
    try {
      return JSON.parse(text)
    } catch (_) {
      return text
    }
  }
  return text
}

// Resolves with the handler's return value, or with what it passes to its callback (third argument).
function invoke (event, context) {
  return new Promise((resolve, reject) => {
    const callback = (error, value) => (error ? reject(error) : resolve(value))
    Promise.resolve()
      .then(() => handler(event, context, callback))
      .then((result) => {
        if (result !== undefined || context.done || handler.length < 3) resolve(result)
      }, reject)
  })
}

function send (response, status, headers, value) {
  const out = {}
  for (const [key, item] of Object.entries(headers)) out[key.toLowerCase()] = item
  let body
  if (value === undefined || value === null) {
    body = Buffer.alloc(0)
  } else if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    body = Buffer.from(value)
  } else if (typeof value === 'string') {
    body = Buffer.from(value)
    out['content-type'] = out['content-type'] || 'text/plain; charset=utf-8'
  } else {
    body = Buffer.from(JSON.stringify(value))
    out['content-type'] = out['content-type'] || 'application/json'
  }
  out['content-length'] = String(body.length)
  response.writeHead(status, out)
  response.end(body)
}

function errorText (error) {
  if (error instanceof Error) return error.message
  return typeof error === 'string' ? error : JSON.stringify(error)
}

async function serve (request, response) {
  const chunks = []
  for await (const chunk of request) chunks.push(chunk)
  const rawBody = Buffer.concat(chunks)
  const url = new URL(request.url, 'http://function')
  const event = {
    body: bodyOf(rawBody, request.headers['content-type']),
    rawBody,
    headers: request.headers,
    method: request.method,
    query: queryOf(url),
    path: url.pathname
  }
  const context = new Context()
  let result
  try {
    result = await invoke(event, context)
  } catch (error) {
    console.error(error instanceof Error ? error.stack : error)
    send(response, 500, {}, errorText(error))
    return
  }
  if (context.error !== undefined) {
    console.error(context.error instanceof Error ? context.error.stack : context.error)
    send(response, 500, context.headerValues, errorText(context.error))
  } else {
    const value = context.done ? context.value : result === context ? undefined : result
    send(response, context.statusCode, context.headerValues, value)
  }
}

const server = http.createServer((request, response) => {
  serve(request, response).catch((error) => {
    console.error(error)
    if (!response.headersSent) send(response, 500, {}, 'internal error')
    else response.destroy()
  })
})
// Outlive the watchdog's pooled connections, so it never reuses one the server is closing.
server.keepAliveTimeout = 65000
server.headersTimeout = 66000
server.listen(port, '127.0.0.1', () => console.log(`node20 function listening on 127.0.0.1:${port}`))

process.on('SIGTERM', () => server.close(() => process.exit(0)))
