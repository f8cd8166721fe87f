"""Stopping a run cleanly: SIGTERM (cluster pre-emption) and SIGINT (Ctrl-C) are noted,
and the loop ends after the step in progress, with a checkpoint."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def stop_on_signals(on_signal: Callable[[int], None], distributed: bool) -> Iterator[None]:
    """Call ``on_signal(signum)`` instead of the default handlers while inside. Only in
    single-process runs on the main thread: ranks stopping at different steps would leave
    the others waiting in a collective."""
    if distributed or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        on_signal(signum)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
