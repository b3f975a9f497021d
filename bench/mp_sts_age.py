"""MicroPython side of bench/tokens.py: STS decode time and heap at a given meter age.

stdin: first line JSON {"key": hex, "ea": n, "repeat": r}; then one token per line.
All tokens but the last are entered and committed (the meter ages); the last is
decoded `repeat` times. Prints one JSON line: us per decode, bytes per decode.
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
    codes = [line.strip() for line in sys.stdin]
    for code in codes[:-1]:
        result = meter.decode(code)
        if not result.ok:
            raise SystemExit("aging token rejected: " + str(result.reason))
        meter.commit(result)
    last = codes[-1]
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
    print(json.dumps({"us": elapsed / job["repeat"], "heap": heap, "aged": len(codes) - 1}))


main()
