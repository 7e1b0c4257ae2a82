import logging
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection

from cs_platform import outbox

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "The outbox relay: every --interval seconds, send the work that is due, was lost "
        "with a broker restart or was held by a dead worker (cs_platform.outbox.relay). "
        "Runs until stopped (SIGTERM / Ctrl-C); --once for a single pass. Any number may "
        "run; the beat schedule 'Outbox: relay' does the same every 5 seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between passes (default 1)."
        )
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args: Any, interval: float, once: bool, **options: Any) -> None:
        if interval <= 0:
            raise CommandError("--interval: must be a positive number of seconds")
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        while True:
            try:
                result = outbox.relay()
            except DatabaseError:
                # The database is away (restart, failover): try again next pass.
                logger.warning("outbox relay: database error", exc_info=True)
                connection.close()
            else:
                if once or result.sent or result.purged or result.broker_down:
                    self.stdout.write(
                        f"sent {result.sent} (again {result.resent}), purged {result.purged}"
                        + (", broker unavailable" if result.broker_down else "")
                    )
            if once or stopping:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
