'use strict'

// Called once per request.
//   event:   body (parsed JSON for application/json, else text), rawBody (Buffer), headers, method, query, path
//   context: status(code), headers({...}), succeed(value), fail(error); each returns context
// Return context (or a value, which is sent as with succeed). Objects are sent as JSON.
module.exports = async (event, context) => {
  return context
    .status(200)
    .succeed({ message: 'Hello from pyfaas', method: event.method, body: event.body })
}
