def handle(req):
    """Called once per request with the body as text; what it returns is the answer.

    Print to sys.stderr for the function's logs (stdout is the answer).
    """
    return req
