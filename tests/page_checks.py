"""Static checks of page files both apps serve: the Content-Security-Policy holds (no inline code or
styles, no eval) and nothing loads from outside the app. Used by the dashboard's and the console's tests."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from web_common.assets import COMMON_DIR, COMMON_ROUTE

_FORBIDDEN = [
    (r"\beval\s*\(", "eval"), (r"new\s+Function\s*\(", "Function()"), (r"\.innerHTML\s*=", "innerHTML"),
    (r"\.outerHTML\s*=", "outerHTML"), (r"insertAdjacentHTML", "insertAdjacentHTML"),
    (r"setAttribute\(\s*[\"']style[\"']", "a style attribute"), (r"setTimeout\(\s*[\"'`]", "setTimeout(string)"),
    (r"\bimport\s*\(", "dynamic import"),
]


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in a:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> (inline style or handler)")
        if tag == "script" and not a.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        for name in ("src", "href"):
            if a.get(name):
                self.refs.append(a[name] or "")


def page_refs(html: str) -> tuple[list[str], list[str]]:
    """(CSP problems, every src/href) of an HTML page."""
    scan = _Scan()
    scan.feed(html)
    return scan.problems, scan.refs


def page_problems(page: Path, prefix: str, static_dir: Path) -> list[str]:
    """What in ``page`` breaks the CSP, loads from outside, or names a missing ``prefix`` asset."""
    problems, refs = page_refs(page.read_text())
    for ref in refs:
        if re.match(r"^(https?:)?//", ref):
            problems.append(f"{page.name} loads {ref} from outside the app")
        elif ref.startswith(prefix) and not (static_dir / ref.removeprefix(prefix)).is_file():
            problems.append(f"{page.name} refers to a missing {ref}")
    return problems


def script_problems(script: Path) -> list[str]:
    """What in a browser module breaks the CSP, refers outside the app, or imports a missing module."""
    code = script.read_text()
    problems = [f"{script.name} uses {why}" for pattern, why in _FORBIDDEN if re.search(pattern, code)]
    code_only = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("//", "*", "/*")))
    urls = set(re.findall(r"https?://[^\s\"'`)]*", code_only)) - {"http://www.w3.org/2000/svg"}
    if urls:
        problems.append(f"{script.name} refers to {urls}: everything must come from the app")
    for dep in re.findall(r"from\s+\"\./([\w-]+\.js)\"", code):
        if not (script.parent / dep).is_file():
            problems.append(f"{script.name} imports a missing {dep}")
    for dep in re.findall(rf"from\s+\"{COMMON_ROUTE}([\w-]+\.js)\"", code):
        if not (COMMON_DIR / dep).is_file():
            problems.append(f"{script.name} imports a missing {COMMON_ROUTE}{dep}")
    for dep in re.findall(r"from\s+\"([^\"]+)\"", code):
        if not dep.startswith(("./", COMMON_ROUTE)):
            problems.append(f"{script.name} imports {dep}: only ./ modules and {COMMON_ROUTE} ones are served")
    return problems
