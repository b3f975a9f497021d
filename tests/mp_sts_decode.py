"""Decode STS token sequences under MicroPython for the cross-runtime tests.

stdin: one JSON object per line {"key": hex, "ea": n, "base_year": y, "codes": [...]};
each accepted code is committed before the next. stdout: one JSON object per code
with the result and the bytes allocated by that decode (GC off, so an upper bound
of its peak heap).
"""

import binascii
import gc
import json
import sys

# tests/protocol would shadow the real protocol package (the script's folder is sys.path[0]).
if sys.path and sys.path[0].rstrip("/").endswith("tests"):
    sys.path.pop(0)

from protocol import sts_decoder as sts  # noqa: E402


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        job = json.loads(line)
        meter = sts.StsDecoder(sts.StsState(binascii.unhexlify(job["key"]), ea=job["ea"],
                                            base_year=job["base_year"]))
        for code in job["codes"]:
            gc.collect()
            gc.disable()
            before = gc.mem_alloc()
            result = meter.decode(code)
            used = gc.mem_alloc() - before
            gc.enable()
            if result.ok:
                meter.commit(result)
            print(json.dumps({"ok": result.ok, "reason": result.reason, "kind": result.kind,
                              "tid": result.tid, "value": result.value, "amount": result.amount,
                              "key": binascii.hexlify(meter.state.key).decode(), "heap": used}))


main()
