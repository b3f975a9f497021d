"""OpenPAYGO decode cost against the meter's age: ours on MicroPython, the reference on CPython.

For each count N, a meter whose max count is N - 2 decodes the standard token at
count N for (a) a preferred value, whose chain the decoder keeps cached, and (b) a
value it has never seen, which walks the chain from count 0 once. The reference
decoder (PyPI openpaygo, CPython) decodes the same cached-value token.

    .venv/bin/python bench/tokens_openpaygo.py
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from opsm.simulator.unix_port import micropython_command, micropython_env
from opsm.host.openpaygo_vend import token_at
from opsm.protocol.openpaygo import Chain

KEY = bytes(range(16))
PREFERRED = 7       # a product the meter is told about (e.g. 7 days)
UNSEEN = 123

# Runs under MicroPython: JOBS is [[count, cached token, unseen token], ...].
SNIPPET = """
import gc, json, time
from opsm.protocol.openpaygo import OpenPaygoDecoder, OpenPaygoState
out = []
for n, cached, unseen in JOBS:
    meter = OpenPaygoDecoder(bytes(range(16)), preferred_values=(PREFERRED,),
                             state=OpenPaygoState(n - 2))
    row = []
    for token, repeat in ((cached, 20), (unseen, 2)):
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        ok = meter.decode(token).ok
        heap = gc.mem_alloc() - before
        gc.enable()
        start = time.ticks_us()
        for _ in range(repeat):
            meter.decode(token)
        row.append([time.ticks_diff(time.ticks_us(), start) / repeat, heap, ok])
    out.append(row)
print(json.dumps(out))
"""


def _reference_us(token: str, count: int, repeat: int = 3) -> float:
    from openpaygo.token_decode import OpenPAYGOTokenDecoder   # test-only dependency
    start = time.perf_counter()
    for _ in range(repeat):
        OpenPAYGOTokenDecoder.decode_token(token, KEY.hex(), count - 2, [count - 2])
    return (time.perf_counter() - start) / repeat * 1e6


def measure(micropython_cmd: list, counts=(10, 10000)) -> dict:
    """Time per decode (us) and bytes allocated by one decode, per count."""
    chain = Chain(KEY)
    start = chain.default_start()
    jobs = [[n, token_at(chain, start, PREFERRED, n), token_at(chain, start, UNSEEN, n)]
            for n in counts]
    cmd = list(micropython_cmd)
    if not any(arg.startswith("heapsize=") for arg in cmd):
        cmd += ["-X", "heapsize=96K"]   # the smallest board's free heap
    snippet = SNIPPET.replace("JOBS", repr(jobs)).replace("PREFERRED", str(PREFERRED))
    proc = subprocess.run(cmd + ["-c", snippet], capture_output=True, text=True, env=micropython_env(),
                          timeout=600, check=True)
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    if not all(ok for row in rows for _, _, ok in row):
        raise RuntimeError("a benchmark token was rejected: %s" % rows)
    result = {"counts": list(counts),
              "cached_us": {n: row[0][0] for n, row in zip(counts, rows)},
              "unseen_us": {n: row[1][0] for n, row in zip(counts, rows)},
              "reference_us": {n: _reference_us(job[1], n) for n, job in zip(counts, jobs)},
              "heap": max(heap for row in rows for _, heap, _ in row)}
    first, last = counts[0], counts[-1]
    for name in ("cached", "unseen", "reference"):
        times = result[name + "_us"]
        result[name + "_ratio"] = times[last] / times[first]
    result["ratio"] = result["cached_ratio"]   # the decode a meter runs for what it sells
    return result


def main(micropython_cmd=None, counts=(10, 10000)) -> dict:
    if micropython_cmd is None:
        micropython_cmd = micropython_command()
    r = measure(micropython_cmd, counts)
    print("OpenPAYGO standard token, time per decode (ms): ours on the MicroPython unix port,")
    print("reference openpaygo 0.6.3 on CPython")
    print("  %8s %14s %14s %14s" % ("count", "ours cached", "ours unseen", "reference"))
    for n in counts:
        print("  %8d %14.2f %14.2f %14.2f" % (n, r["cached_us"][n] / 1000, r["unseen_us"][n] / 1000,
                                              r["reference_us"][n] / 1000))
    print("  %8s %14.2f %14.2f %14.2f" % ("ratio", r["cached_ratio"], r["unseen_ratio"],
                                          r["reference_ratio"]))
    print("  ratio = count %d / count %d (target for ours cached: <= 1.5); "
          "heap allocated by one decode: %d bytes" % (counts[-1], counts[0], r["heap"]))
    return r


if __name__ == "__main__":
    main()
