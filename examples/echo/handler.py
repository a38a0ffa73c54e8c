"""Echo: returns the request body, method, path and query (python3-http style)."""


def handle(event, context):
    return {
        "statusCode": 200,
        "body": {
            "method": event.method,
            "path": event.path,
            "query": dict(event.query),
            "body": event.body.decode("utf-8", errors="replace"),
            "hostname": context.hostname,
        },
        "headers": {"X-Example": "echo"},
    }
