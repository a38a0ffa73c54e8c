"""pyfaas python3 template (fork mode): read the whole request body from stdin, call handle(req) from
function/handler.py once, print what it returns. The watchdog starts one such process per request."""

import sys

from function import handler


def main() -> None:
    request = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    result = handler.handle(request)
    if result is not None:
        sys.stdout.write(result if isinstance(result, str) else str(result))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
