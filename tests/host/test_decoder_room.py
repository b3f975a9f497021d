"""The token decoder's room in the meter's heap: a firmware transfer takes it, a code brings it back.

Under the MicroPython unix port, with the firmware's own modules: the recharge pipeline keeps the
decoder's state as bytes, so releasing the decoder's modules gives their heap back; the next code
imports them again, is applied, and the TID memory rode through as bytes (a replay is refused).
"""

import subprocess

from opsm.host.sts import tokens
from opsm.simulator.board import ROOT
from opsm.simulator.unix_port import micropython_command, micropython_env
from tests.host.conftest import sts_vectors

KEY = "f94b6ed353c3bfdb113e2d3a7ea3c41d"

BOOT = """
import gc, sys
from recharge import Recharger
from records import RecordStore
from token_profiles import StsProfile
from tests.firmware.fakeflash import FakeFlash


def boot(flash):
    from protocol import sts_decoder as sts  # as provision.py does: no module-level reference kept

    return Recharger(RecordStore("/m/recharge", flash.open), StsProfile(sts.StsState(bytes.fromhex(%r), ea=11,
                                                                                     base_year=1993)))


flash = FakeFlash()
meter = boot(flash)
"""

SCRIPT = BOOT + """
first = meter.enter(%r, 0)
gc.collect()
loaded = gc.mem_alloc()
meter.release()
gc.collect()
print("freed", loaded - gc.mem_alloc())
print("modules", [name for name in StsProfile.modules if name in sys.modules])
second = meter.enter(%r, 0)
print("codes", first.ok, second.ok, meter.enter(%r, 0).reason, meter.ledger.purchased_wh)
print("rebooted", boot(flash).enter(%r, 0).reason)
"""


# A transfer starting before every code (the decoder released each time), twenty times over.
CYCLES = BOOT + """
heap = []
for code in %r:
    meter.release()
    out = meter.enter(code, 0)
    print("code", out.ok, out.reason)
    meter.release()
    gc.collect()
    heap.append(gc.mem_alloc())
print("heap", heap[0], heap[-1])
print("purchased", meter.ledger.purchased_wh)
"""


def _run(script: str) -> dict:
    proc = subprocess.run(micropython_command() + ["-X", "heapsize=256K", "-c", script], capture_output=True,
                          text=True, timeout=60, env=micropython_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    lines = {}
    for line in proc.stdout.splitlines():
        name, _, value = line.partition(" ")
        lines.setdefault(name, []).append(value)
    return lines


def _credit_codes():
    return [v["token"] for v in sts_vectors() if v.get("decoder_key_hex") == KEY and v["token_class"] == 0
            and v["token_subclass"] == 0]


def test_released_decoder_frees_its_heap_and_the_next_code_brings_it_back():
    first, second = _credit_codes()[0:2]
    lines = {name: values[0] for name, values in _run(SCRIPT % (KEY, first, second, first, second)).items()}
    # Compiled from source here, the modules' bytecode is in the heap too: well over the ~7 KB a board frees.
    assert int(lines["freed"]) > 7000, lines
    assert lines["modules"] == "[]"
    ok_first, ok_second, replay, purchased = lines["codes"].split()
    assert (ok_first, ok_second, replay) == ("True", "True", "USED") and int(purchased) > 0
    assert lines["rebooted"] == "USED"  # the state saved with the second code


def test_taking_and_giving_back_the_room_twenty_times_leaks_nothing_and_credits_every_code():
    key = bytes.fromhex(KEY)
    codes = [tokens.amount_token(0, 0, 5000000 + n, 100 + n, n % 16, 11, key) for n in range(20)]
    lines = _run(CYCLES % (KEY, codes))
    assert lines["code"] == ["True None"] * 20
    first, last = map(int, lines["heap"][0].split())
    assert last - first < 512, (first, last)  # the TID memory grows 3 bytes a code: nothing else stays
    assert int(lines["purchased"][0]) == sum(100 + n for n in range(20)) * 100
