"""Enter recharge codes into a meter whose state lives in a folder: the demo's meter side.

Runs on MicroPython (unix port) and CPython:
    micropython -c "import token_console; token_console.main(argv)"
argv: state_prefix key_hex ea base_year now_s code [code ...]
Prints, per code, the lines the meter screen shows, then one JSON line.
"""

import binascii
import json

from protocol import sts_decoder as sts

from recharge import Recharger
from records import RecordStore
from token_profiles import StsProfile


def _kwh(wh: int) -> str:
    return "%d.%d kWh" % (wh // 1000, wh % 1000 // 100)


def main(argv) -> int:
    prefix, key_hex, ea, base_year, now = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    factory = sts.StsState(binascii.unhexlify(key_hex), ea=ea, base_year=base_year)
    meter = Recharger(RecordStore(prefix), StsProfile(factory))
    report = []
    for code in argv[5:]:
        out = meter.enter(code, now)
        shown = " ".join(code[i:i + 5] for i in range(0, len(code), 5))
        print("+" + "-" * 30 + "+")
        print("| %-28s |" % shown)
        print("| %-28s |" % out.message())
        print("| %-28s |" % ("Credito " + _kwh(meter.ledger.purchased_wh)))
        print("+" + "-" * 30 + "+")
        report.append({"code": code, "ok": out.ok, "reason": out.reason, "kind": out.kind,
                       "message": out.message(), "credit_wh": meter.ledger.purchased_wh})
    print(json.dumps(report))
    return 0
