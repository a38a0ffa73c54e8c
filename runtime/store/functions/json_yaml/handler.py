"""json-yaml: converts JSON to YAML and YAML to JSON.

The direction comes from ``?to=json|yaml``, else from the request's Content-Type (JSON in → YAML out, anything
else → JSON out). Since JSON is YAML, a body is always parsed as YAML (safe loader, no custom tags).
"""

from __future__ import annotations

import json
from typing import Any

import yaml


def _target(event: Any) -> str:
    wanted = str(event.query.get("to", "")).lower()
    if wanted in ("json", "yaml"):
        return wanted
    content_type = str(event.headers.get("Content-Type", "")).lower()
    return "yaml" if "json" in content_type else "json"


def handle(event: Any, context: Any) -> dict[str, Any]:
    target = _target(event)
    try:
        document = yaml.safe_load(bytes(event.body).decode("utf-8")) if event.body else None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return {"statusCode": 400, "body": f"cannot parse the body: {str(exc).splitlines()[0]}\n"}
    if target == "yaml":
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        return {"statusCode": 200, "body": text, "headers": {"Content-Type": "application/yaml"}}
    try:
        text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    except (TypeError, ValueError) as exc:
        return {"statusCode": 400, "body": f"cannot convert to JSON: {exc}\n"}
    return {"statusCode": 200, "body": text, "headers": {"Content-Type": "application/json"}}
