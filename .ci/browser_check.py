"""The trace view in a real browser: headless Chromium loads the overview and a failed trace
from a running quickstart; the rendered DOM (--dump-dom) must show the path to the failed
span expanded, the trace's log lines, and exemplar points that open their traces; both pages
are screenshotted.

usage: browser_check.py ADMIN_URL OUT_DIR [--update-docs]
  --update-docs  also copies the screenshots to docs/ (the README shows them)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from html.parser import HTMLParser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode("utf-8")


def chromium(*args):
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,900", *args],
            capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        sys.exit(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


class Details(HTMLParser):
    """The <details> elements of a page: their classes, ids, whether open, and their parents;
    and the text of the log table's level cells."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack = []       # open elements: (tag, index into details or None)
        self.details = []     # dicts: class, id, open, parent
        self.log_cells = []
        self.cell = None
        self.trace_links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and (attrs.get("href") or "").startswith("/debug/traces?trace_id="):
            self.trace_links.append(attrs["href"])
        if tag in self.VOID:
            return
        index = None
        if tag == "details":
            parent = next((i for t, i in reversed(self.stack) if t == "details"), None)
            index = len(self.details)
            self.details.append({"class": (attrs.get("class") or "").split(),
                                 "id": attrs.get("id"), "open": "open" in attrs,
                                 "parent": parent})
        if tag == "td" and any(t == "table" and i == "logs" for t, i in self.stack):
            self.cell = []
        self.stack.append((tag, "logs" if tag == "table" and attrs.get("class") == "logs" else index))

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == "td" and self.cell is not None:
                self.log_cells.append("".join(self.cell).strip())
                self.cell = None
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def failed_trace_id(admin):
    deadline = time.time() + 60
    while time.time() < deadline:
        status, body = get(f"{admin}/debug/traces?format=json&status=error&limit=1")
        traces = json.loads(body)["traces"] if status == 200 else []
        if traces and any(s["status"] == "error" and s["depth"] >= 2 for s in traces[0]["spans"]):
            return traces[0]
        time.sleep(0.5)
    sys.exit("no failed trace with a nested failed span appeared within 60 s")


def check_trace(admin, out):
    trace = failed_trace_id(admin)
    url = f"{admin}/debug/traces?trace_id={trace['trace_id']}"
    dom = chromium("--dump-dom", url)
    page = Details()
    page.feed(dom)
    spans = [d for d in page.details if "sp" in d["class"]]
    if len(spans) != trace["span_count"]:
        sys.exit(f"the DOM has {len(spans)} span rows, the trace {trace['span_count']} spans")
    failed = [d for d in spans if "err" in d["class"]]
    if not failed:
        sys.exit("no failed span row in the DOM")
    for row in failed:
        at, path = page.details.index(row), []
        while at is not None:
            node = page.details[at]
            if "sp" in node["class"]:
                path.append(node)
            at = node["parent"]
        closed = [node["id"] for node in path if not node["open"]]
        if closed:
            sys.exit(f"the path to failed span {row['id']} has closed rows: {closed}")
        if not any(d["open"] and "info" in d["class"] and d["parent"] == page.details.index(row)
                   for d in page.details):
            sys.exit(f"failed span {row['id']} does not show its details")
    collapsed = [d for d in spans if not d["open"]]
    if "ERROR" not in page.log_cells and "WARN" not in page.log_cells:
        sys.exit(f"the log table shows no warning or error: {page.log_cells}")
    print(f"trace {trace['trace_id']}: {len(spans)} span rows, {len(failed)} failed, their paths "
          f"expanded, {len(collapsed)} rows collapsed, {len(page.log_cells) // 5} log lines")
    shot = os.path.join(out, "trace-view.png")
    chromium(f"--screenshot={shot}", url)
    return shot


def check_overview(admin, out):
    url = f"{admin}/debug/overview"
    dom = chromium("--dump-dom", url)
    page = Details()
    page.feed(dom)
    if "<table class=\"ops\">" not in dom or "HTTP routes" not in dom:
        sys.exit("the overview shows no operations table with HTTP routes")
    if not page.trace_links:
        sys.exit("the overview shows no exemplar linked to its trace")
    opened = 0
    for link in page.trace_links:
        status, _ = get(f"{admin}{link}")
        if status != 200:
            sys.exit(f"exemplar {link} answered {status}")
        opened += 1
    print(f"overview: {opened} exemplar points, every one opens its trace")
    shot = os.path.join(out, "overview.png")
    chromium("--window-size=1280,760", f"--screenshot={shot}", url)
    return shot


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    admin, out = sys.argv[1].rstrip("/"), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    print(subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip())
    shots = [check_trace(admin, out), check_overview(admin, out)]
    for shot in shots:
        with open(shot, "rb") as png:
            data = png.read()
        if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 10_000:
            sys.exit(f"{shot} is not a screenshot of a page ({len(data)} bytes)")
        print(f"screenshot: {shot} ({len(data)} bytes)")
        if "--update-docs" in sys.argv:
            shutil.copy(shot, os.path.join("docs", os.path.basename(shot)))


if __name__ == "__main__":
    main()
