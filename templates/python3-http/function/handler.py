def handle(event, context):
    """Called once per request.

    event:   .body (bytes), .headers (case-insensitive), .method, .query, .path
    context: .hostname

    Return None (200, empty), a string, or a dict with "statusCode", "body" (a dict becomes JSON)
    and "headers". Declare it ``async def`` to run on the event loop instead of the thread pool.
    """
    return {"statusCode": 200, "body": "Hello from OpenFaaS!"}
