"""Power cut at every flash operation, on real littlefs (MicroPython's VfsLfs2).

The meter's state lives on littlefs over a RAM block device that dies at the k-th
program or erase (the half-written block stays as it is). After each cut the image
is mounted again and the meter booted: credit, energy and key must be the values
before or after the operation, never anything else, and doing the operation again
must never credit twice. Operations: recharges, a consumption save, a 4-token key
change. MicroPython only (CPython has no littlefs); the runner runs it.
"""

import binascii
import gc
import json

import vfs

from protocol import sts_decoder as sts
from protocol.misty1 import Misty1
from protocol.sts_token import buffer_to_digits, seal, transpose

from metering import EnergyRegister
from recharge import Recharger
from records import RecordStore
from token_profiles import StsProfile

from tests.firmware.fakeflash import FakeBlockDevice

_DIR = __file__.rsplit("/", 1)[0]
_KEY = binascii.unhexlify("f94b6ed353c3bfdb113e2d3a7ea3c41d")
_NEW = bytes(range(16))
_BLOCK = 512
_BLOCKS = 32


def _mount(flash):
    try:
        vfs.umount("/fl")
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(flash, progsize=32, readsize=32, lookahead=32), "/fl")


def _boot():
    return Recharger(RecordStore("/fl/recharge"), StsProfile(sts.StsState(_KEY, ea=11, base_year=1993)),
                          EnergyRegister())


def _credit_codes():
    with open(_DIR + "/../vectors/sts_ea11_dkga04.json") as f:
        return [v["token"] for v in json.load(f)["vectors"]
                if v.get("decoder_key_hex") == "f94b6ed353c3bfdb113e2d3a7ea3c41d"
                and v["token_class"] == 0 and v["token_subclass"] == 0 and v["amount_tenths"] < 100000]


def _key_change_codes():
    """Sections 1-4 installing _NEW, built with the meter's own primitives."""
    cipher = Misty1(_KEY)
    out = []
    for sub, head, key_part in ((3, (0x0F, 0x22), _NEW[0:4]), (4, (0x0F, 0x01), _NEW[12:16]),
                                (8, (0x00, 0x00), _NEW[4:8]), (9, (0x00, 0x00), _NEW[8:12])):
        block = bytearray(8)
        block[0] = (sub << 4) | head[0]
        block[1] = head[1]
        block[2:6] = key_part
        seal(2, block)
        cipher.encrypt_into(block)
        buf = bytearray(1) + block
        buf[0] = 2
        transpose(buf)
        out.append(buffer_to_digits(buf))
    return out


def _state(meter):
    return meter.ledger.purchased_wh, meter.energy.import_wh, sts.unpack_state(meter.state).key


def _enter(code):
    def operation(meter):
        return meter.enter(code, 0).ok
    return operation


def _consume(meter):
    """An hour at 480 W charged to the ledger, then the consumption save."""
    before = meter.energy.import_wh
    meter.energy.add(480000, 0, 3600000)
    meter.ledger.consume(meter.energy.import_wh - before)
    meter.save()
    return True


def _cut_everywhere(prepare, operations):
    """Run `operations` one by one; for each, cut the power at every flash operation it makes."""
    flash = FakeBlockDevice(_BLOCKS, _BLOCK)
    vfs.VfsLfs2.mkfs(flash, progsize=32, readsize=32, lookahead=32)
    _mount(flash)
    meter = _boot()
    for code in prepare:
        assert meter.enter(code, 0).ok
    tried = 0
    for operation in operations:
        before_image = bytes(flash.data)
        before = _state(meter)
        start = flash.ops
        assert operation(meter)
        after = _state(meter)
        writes = flash.ops - start
        assert writes > 0
        for k in range(1, writes + 1):
            gc.collect()  # a few 16 KB images per round: keep the heap clear
            cut = FakeBlockDevice(_BLOCKS, _BLOCK, before_image)
            _mount(cut)
            victim = _boot()
            assert _state(victim) == before
            cut.cut_at = cut.ops + k
            try:
                operation(victim)
            except Exception:  # the cut, as littlefs reports it
                pass
            rebooted = FakeBlockDevice(_BLOCKS, _BLOCK, cut.data)
            _mount(rebooted)
            survivor = _boot()
            assert _state(survivor) in (before, after), (k, _state(survivor))
            if _state(survivor) == before:
                operation(survivor)  # the operation is done again once, as a customer would
            assert _state(survivor) == after, k
            tried += 1
            cut = rebooted = survivor = victim = None
        _mount(flash)
        meter = _boot()
        assert _state(meter) == after
    return tried


def test_cut_at_every_flash_operation_of_a_recharge():
    codes = _credit_codes()
    assert _cut_everywhere(codes[:1], [_enter(c) for c in codes[1:3]]) > 4


def test_cut_at_every_flash_operation_of_a_consumption_save():
    assert _cut_everywhere(_credit_codes()[:1], [_consume, _consume]) > 4


def test_cut_at_every_flash_operation_of_a_key_change():
    assert _cut_everywhere(_credit_codes()[:1], [_enter(c) for c in _key_change_codes()]) > 8
