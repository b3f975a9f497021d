"""MicroPython side of bench/tokens.py: STS decode time and heap at a given meter age.

stdin: first line JSON {"key": hex, "ea": n, "repeat": r, "measure": code}; then one
token per line, each entered and committed (the meter ages, streamed so the heap stays
the meter's own); then `measure` is decoded `repeat` times. Prints one JSON line:
us per decode, bytes one decode allocates.
"""

import binascii
import gc
import json
import sys
import time

if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)

from protocol import sts_decoder as sts  # noqa: E402


def main():
    job = json.loads(sys.stdin.readline())
    meter = sts.StsDecoder(sts.StsState(binascii.unhexlify(job["key"]), ea=job["ea"], base_year=2014))
    aged = 0
    while True:
        code = sys.stdin.readline().strip()
        if not code:
            break
        result = meter.decode(code)
        if not result.ok:
            raise SystemExit("aging token rejected: " + str(result.reason))
        meter.commit(result)
        aged += 1
    last = job["measure"]
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    if not meter.decode(last).ok:
        raise SystemExit("measured token rejected")
    heap = gc.mem_alloc() - before
    gc.enable()
    start = time.ticks_us()
    for _ in range(job["repeat"]):
        meter.decode(last)
    elapsed = time.ticks_diff(time.ticks_us(), start)
    print(json.dumps({"us": elapsed / job["repeat"], "heap": heap, "aged": aged}))


main()
