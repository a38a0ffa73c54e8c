"""OpenFaaS's python3-http stack for comparison: Flask + waitress serving ``function/handler.py``.

``python bench/python3_http_flask.py HANDLER_DIR PORT`` — written from the template's documented behaviour
(routes ``/`` and ``/<path:path>`` for GET/PUT/POST/PATCH/DELETE, ``event``/``context`` objects, the return
mapping, waitress on the port with its default 4 threads).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask, jsonify, request
from waitress import serve  # type: ignore[import-untyped]


class Event:
    def __init__(self) -> None:
        self.body = request.get_data()
        self.headers = request.headers
        self.method = request.method
        self.query = request.args
        self.path = request.path


class Context:
    def __init__(self) -> None:
        self.hostname = os.getenv("HOSTNAME", "localhost")


def to_response(result: Any) -> Any:
    if result is None:
        return ("", 200)
    if type(result) is dict:
        headers = result.get("headers")
        content_type = headers.get("Content-type", "") if isinstance(headers, dict) else ""
        if content_type == "application/octet-stream":
            body = result["body"]
        elif "body" not in result:
            body = ""
        elif type(result["body"]) is dict:
            body = jsonify(result["body"])
        else:
            body = str(result["body"])
        header_list = list(headers.items()) if type(headers) is dict else (headers or [])
        return (body, result.get("statusCode", 200), header_list)
    return result


def main() -> None:
    handler_dir, port = sys.argv[1], int(sys.argv[2])
    sys.path.insert(0, os.path.dirname(os.path.abspath(handler_dir)))
    sys.path.insert(0, os.path.abspath(handler_dir))
    import handler  # type: ignore[import-not-found]

    app = Flask(__name__)

    @app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    def call_handler(path: str) -> Any:
        return to_response(handler.handle(Event(), Context()))

    serve(app, host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
