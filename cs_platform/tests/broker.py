"""Point this process's Celery producer at another broker for a test (e.g. a closed port,
to play a broker outage), and back."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cs_platform import outbox
from cs_platform.celery import app


def closed_port_url() -> str:
    """A Redis URL on a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def _reset_producer_pools() -> None:
    # Dropped, not closed: kombu keeps one pool per broker URL for the whole process.
    app._pool = None
    app.amqp._producer_pool = None
    outbox._broker_down_until = 0.0


@contextmanager
def broker_at(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Celery reads CELERY_BROKER_URL from the environment before its setting: set both."""
    previous = app.conf.broker_url
    with monkeypatch.context() as patch:
        patch.setenv("CELERY_BROKER_URL", url)
        app.conf.broker_url = url
        _reset_producer_pools()
        try:
            yield
        finally:
            app.conf.broker_url = previous
            _reset_producer_pools()
