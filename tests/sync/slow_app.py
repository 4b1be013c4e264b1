"""A server whose pushes write mutation by mutation, slowly, inside their transaction (for the killed-worker test).

Gunicorn loads ``tests.sync.slow_app:create_app()``; the fault is injected here, on the test
side, by wrapping the push's writer. ``SLOW_PUSH_SECONDS_PER_MUTATION`` sets the pause.
"""
from __future__ import annotations

import os
import time


def create_app():
    from server import create_app as real_create_app
    from server.sync import push

    pause = float(os.environ.get("SLOW_PUSH_SECONDS_PER_MUTATION", "0.02"))
    write = push._write

    def slow_write(plans):
        for plan in plans:  # one mutation at a time, so a killed worker dies between two of them
            write([plan])
            time.sleep(pause)

    push._write = slow_write
    return real_create_app()
