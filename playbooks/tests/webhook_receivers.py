"""Webhook receivers for tests: real HTTP servers on 127.0.0.1 (an address the webhook
policy refuses unless a test allows it, as an operator would with
WEBHOOK_ALLOWED_NETWORKS), and a stand-in for DNS, the one thing outside the system."""

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOOPBACK_RECEIVERS = ["127.0.0.1/32"]


class Receiver:
    """A webhook receiver on 127.0.0.1 answering with the queued status codes.

    ``behaviour`` changes how it answers: ``"slow"`` sends its status line one byte every
    half second (about 10 s in all), ``"endless"`` answers 200 with a body that never ends."""

    def __init__(self, statuses: list[int], *, behaviour: str = "normal") -> None:
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        self.server_names: list[str | None] = []
        self.body_bytes_sent = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                if behaviour == "slow":
                    for byte in b"HTTP/1.1 200 OK\r\n\r\n":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.5)
                    return
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if behaviour == "endless":
                    self.end_headers()
                    chunk = b"x" * 65536
                    for _ in range(100_000):  # bounded: about 6.5 GB, never read in full
                        self.wfile.write(chunk)
                        receiver.body_bytes_sent += len(chunk)
                    return
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def serve_tls(self, cert: Path, key: Path) -> None:
        """Answer over TLS with ``cert``, recording the server name each client asked for."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def record(_sock: Any, server_name: str | None, _context: Any) -> None:
            self.server_names.append(server_name)

        context.sni_callback = record
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed_certificate(folder: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` (and the key), made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=DNS:{host}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class FakeDNS:
    """``socket.getaddrinfo`` for the names a test gives answers for (each a list of
    addresses per lookup, the last one repeating); every other name resolves as usual."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []
        self.real: Callable[..., list] = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        rounds = self.answers[host]
        addresses = rounds[min(len(self.lookups), len(rounds)) - 1]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, int(port), 0, 0) if ":" in a else (a, int(port)),
            )
            for a in addresses
        ]
