"""Token decode cost against the meter's age, under the MicroPython unix port.

Prints, for both profiles, the time per decode at meter counts 10 and 10 000, the
ratio between them (target: at most 1.5), and the bytes one decode allocates
(target: 8 KB or less); next to it, the reference OpenPAYGO decoder (PyPI
openpaygo, CPython) at the same counts, measured in the same run.

    .venv/bin/python bench/tokens.py
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from bench import tokens_openpaygo
from opsm.simulator.unix_port import micropython_command, micropython_env
from opsm.host.sts import tokens as sts_tokens

COUNTS = (10, 10000)
KEY = bytes(range(16))


def sts_at_age(count: int, repeat: int = 300) -> dict:
    """Enter `count` credit tokens, then time the decode of one more."""
    codes = [sts_tokens.amount_token(0, 0, 1000 + i, 10, i % 16, 11, KEY) for i in range(count + 1)]
    header = {"key": KEY.hex(), "ea": 11, "repeat": repeat, "measure": codes[-1]}
    stdin = json.dumps(header) + "\n" + "\n".join(codes[:-1]) + "\n"
    proc = subprocess.run(micropython_command() + ["-X", "heapsize=96K", os.path.join(ROOT, "bench", "mp_sts_age.py")],
                          input=stdin, capture_output=True, text=True, env=micropython_env(), timeout=600, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    print("STS (EA11 MISTY1), MicroPython unix port, -X heapsize=96K")
    sts_results = {count: sts_at_age(count) for count in COUNTS}
    for count, r in sts_results.items():
        print("  count %6d: %8.1f us per decode, %5d bytes allocated" % (count, r["us"], r["heap"]))
    sts_ratio = sts_results[COUNTS[1]]["us"] / sts_results[COUNTS[0]]["us"]
    print("  ratio count %d / count %d: %.2f (target <= 1.5)" % (COUNTS[1], COUNTS[0], sts_ratio))
    print()
    opaygo = tokens_openpaygo.main(micropython_command(), COUNTS)
    worst_heap = max([r["heap"] for r in sts_results.values()] + [opaygo.get("heap", 0)])
    ok = sts_ratio <= 1.5 and opaygo.get("ratio", 0) <= 1.5 and worst_heap <= 8192
    print()
    print("verdict: %s" % ("within targets" if ok else "OUTSIDE TARGETS"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
