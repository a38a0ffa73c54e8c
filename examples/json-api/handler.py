"""A tiny JSON API: POST {"numbers": [...]} returns their count, sum and mean; bad input gets a 400."""

import json


def handle(event, context):
    if event.method == "GET":
        return {"statusCode": 200, "body": {"usage": 'POST {"numbers": [1, 2, 3]}'}}
    try:
        payload = json.loads(event.body or b"{}")
        numbers = [float(n) for n in payload["numbers"]]
    except (ValueError, KeyError, TypeError) as exc:
        return {"statusCode": 400, "body": {"error": f'expected {{"numbers": [...]}}: {exc}'}}
    total = sum(numbers)
    mean = total / len(numbers) if numbers else None
    return {"statusCode": 200, "body": {"count": len(numbers), "sum": total, "mean": mean}}
