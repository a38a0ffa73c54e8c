"""A classic-style handler labelled for scale to zero: it goes to 0 replicas when idle and wakes on demand."""


def handle(req):
    return "Good morning! I was woken up to answer: " + (req or "(empty body)")
