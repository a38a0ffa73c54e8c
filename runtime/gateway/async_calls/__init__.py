"""Asynchronous invocation: ``/async-function/NAME`` and the call-status API. ``routes`` (the handlers),
``queue`` (the JetStream publisher), ``dead_letters`` (the dead-letter API), ``call_ledger`` (replayed async
calls answered from their first execution)."""
