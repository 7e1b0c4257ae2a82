"""``bench/usage.py --clients N``: a day's batch posted to ``POST /api/usage/daily/`` over
HTTP, to gunicorn with N sync workers, by N clients at once (a token each request).

A request checks its rows before it takes the usage writers' lock (``usage.ingest``), so
with two clients one request's decoding and checking run while another's rows are
written: what an integration that sends its batches two at a time gets. The in-process
figure (Django's test client, one request after another) stays the default.
"""

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import web


class ConcurrentPoster:
    """gunicorn with ``clients`` sync workers on ``database_url``, warmed up; ``post_all``
    (the work to time) posts every body, at most ``clients`` at once, and raises on an
    error answer."""

    def __init__(self, database_url: str, token: str, clients: int) -> None:
        self.clients = clients
        self.headers = {"Authorization": f"Token {token}"}
        self.process, self.base = web.start_server(database_url, clients)
        # Each worker's first request loads the URLconf, middleware and views: not timed.
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda _: self.send("/api/usage/metrics/"), range(4 * clients)))

    def send(self, path: str, body: str | None = None) -> None:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else body.encode(),
            method="GET" if body is None else "POST",
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=300) as response:  # raises on 4xx and 5xx
            response.read()

    def post_all(self, path: str, bodies: list[str]) -> None:
        with ThreadPoolExecutor(self.clients) as pool:
            list(pool.map(lambda body: self.send(path, body), bodies))

    def workers_rss_mb(self) -> list[float]:
        """The resident memory of each gunicorn worker now, in MB."""
        pid = self.process.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as listing:
                children = [int(child) for child in listing.read().split()]
        except OSError:
            return []
        sizes = []
        for child in children:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
