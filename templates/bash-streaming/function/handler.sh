#!/usr/bin/env bash
# Called once per request: the request body on stdin, the response on stdout (streamed as written).
set -euo pipefail

while IFS= read -r line || [ -n "$line" ]; do
  printf 'you said: %s\n' "$line"
done
