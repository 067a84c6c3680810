"""A real collector whose store is slowed down, so that a test can overload it.

It is the app as `spyglass serve` runs it, with `app.store.write` wrapped from outside to
sleep before each call: the writer then commits far fewer spans a second than exporters
send, and its bounded queue fills. Nothing in the app knows about it. The queue's bound is
the real setting `SPYGLASS_MAX_PENDING_SPANS`, read from the environment as usual. The access
log is on, so that the test can count the replies by status.

    python -m tests.slow_collector --port 4318 --database-url sqlite:///x.db --delay 0.1
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--delay", type=float, required=True, help="seconds added to each write")
    args = parser.parse_args()

    import uvicorn

    from app import store
    from app.main import create_app
    from app.settings import Settings

    write = store.write

    def slow_write(*positional: Any, **named: Any) -> None:
        time.sleep(args.delay)
        write(*positional, **named)

    # The writer calls `store.write` through the module, so this is what it calls.
    store.write = slow_write
    settings = Settings(port=args.port, database_url=args.database_url, access_log=True)
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=args.port, access_log=True, log_level="info"
    )


if __name__ == "__main__":
    main()
