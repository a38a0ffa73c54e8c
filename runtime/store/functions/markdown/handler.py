"""markdown: renders Markdown (the request body) to HTML with a small built-in converter (stdlib only).

Supported: ATX headings, paragraphs, fenced code blocks, block quotes, ``-``/``*``/``+`` and ``1.`` lists,
horizontal rules, and inline code, ``**strong**``, ``*emphasis*``/``_emphasis_``, links, images and
``<https://...>`` autolinks. All text is HTML-escaped; link targets with a script scheme are dropped.
``?page=true`` wraps the result in a minimal HTML document.
"""

from __future__ import annotations

import html
import re
from typing import Any

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_ORDERED = re.compile(r"^\s{0,3}\d{1,9}[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"([^\"]*)\")?\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+\"([^\"]*)\")?\)")
_AUTOLINK = re.compile(r"&lt;((?:https?|mailto):[^\s&]+)&gt;")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S)
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])", re.S)
_UNSAFE_SCHEME = re.compile(r"^\s*(javascript|vbscript|data):", re.I)


def _url(raw: str) -> str:
    return "#" if _UNSAFE_SCHEME.match(html.unescape(raw)) else _attribute(raw)


def _attribute(text: str) -> str:
    return text.replace('"', "&quot;")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def inline(text: str) -> str:
    """Inline Markdown of already-escaped ``text`` → HTML; code spans are protected from other rules."""
    spans: list[str] = []

    def stash(markup: str) -> str:
        spans.append(markup)
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE_SPAN.sub(lambda m: stash(f"<code>{m.group(2).strip()}</code>"), text)

    def image(m: re.Match[str]) -> str:
        title = f' title="{_attribute(m.group(3))}"' if m.group(3) else ""
        return stash(f'<img src="{_url(m.group(2))}" alt="{_attribute(m.group(1))}"{title}>')

    def link(m: re.Match[str]) -> str:
        title = f' title="{_attribute(m.group(3))}"' if m.group(3) else ""
        return f'<a href="{_url(m.group(2))}"{title}>{m.group(1)}</a>'

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', text)
    text = _STRONG.sub(r"<strong>\2</strong>", text)
    text = _EMPHASIS.sub(r"<em>\2</em>", text)
    text = re.sub(r" {2,}\n", "<br>\n", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)


def render(source: str) -> str:
    """Markdown → HTML fragment."""
    lines = source.replace("\r\n", "\n").replace("\t", "    ").split("\n")
    out: list[str] = []
    paragraph: list[str] = []
    index = 0

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{inline(_escape(chr(10).join(paragraph)))}</p>")
            paragraph.clear()

    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker, language = fence.group(1), fence.group(2)
            body: list[str] = []
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(marker):
                body.append(lines[index])
                index += 1
            index += 1  # the closing fence (or the end of input)
            attribute = f' class="language-{html.escape(language)}"' if language else ""
            out.append(f"<pre><code{attribute}>{html.escape(chr(10).join(body))}\n</code></pre>")
            continue
        if not line.strip():
            flush()
            index += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(_escape(heading.group(2)))}</h{level}>")
            index += 1
            continue
        if _RULE.match(line):
            flush()
            out.append("<hr>")
            index += 1
            continue
        if _QUOTE.match(line):
            flush()
            quoted: list[str] = []
            while index < len(lines) and (match := _QUOTE.match(lines[index])):
                quoted.append(match.group(1))
                index += 1
            out.append(f"<blockquote>\n{render(chr(10).join(quoted))}\n</blockquote>")
            continue
        for pattern, tag in ((_BULLET, "ul"), (_ORDERED, "ol")):
            if pattern.match(line):
                flush()
                items: list[str] = []
                while index < len(lines) and (match := pattern.match(lines[index])):
                    item = [match.group(1)]
                    index += 1
                    while index < len(lines) and lines[index].startswith("  ") and lines[index].strip():
                        item.append(lines[index].strip())  # a continuation line of the same item
                        index += 1
                    items.append(f"<li>{inline(_escape(chr(10).join(item)))}</li>")
                out.append(f"<{tag}>\n" + "\n".join(items) + f"\n</{tag}>")
                break
        else:
            paragraph.append(line.strip())
            index += 1
    flush()
    return "\n".join(out)


def handle(event: Any, context: Any) -> dict[str, Any]:
    try:
        source = bytes(event.body).decode("utf-8")
    except UnicodeDecodeError:
        return {"statusCode": 400, "body": "the body must be UTF-8 Markdown\n"}
    fragment = render(source)
    if str(event.query.get("page", "")).lower() in ("1", "true", "yes"):
        fragment = (
            '<!doctype html>\n<html><head><meta charset="utf-8"><title>Markdown</title></head>\n'
            f"<body>\n{fragment}\n</body></html>"
        )
    return {
        "statusCode": 200,
        "body": fragment + "\n",
        "headers": {"Content-Type": "text/html; charset=utf-8"},
    }
