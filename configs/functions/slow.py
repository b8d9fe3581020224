"""Sleeps ``event["seconds"]`` (default 2) and reports when it started and ended."""

import time


def handler(event, context):
    started = time.time()
    print(f"sleeping {event.get('seconds', 2)} s")
    time.sleep(float(event.get("seconds", 2)))
    return {
        "started": started,
        "ended": time.time(),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
