"""The whole firmware app under attack, on the MicroPython unix port (make test-mp).

The real asyncio app (measure, keypad, screen, optical port, watchdog supervisor) runs on the
virtual board with a household load, while an attacker sends more than 10 000 random and mutated
inputs: bytes and mutated IEC 62056-21 lines and HDLC frames on the optical port (mode C and E),
mutated DLMS APDUs in TCP wrapper frames to the meter's server, random key sequences on the keypad
(codes, admin passwords, menu keys), and a clock pushed back and forth across months with the
management rights (the clock finding of issue 13). Afterwards:
- the app never raised (no task failed) and kept metering, the watchdog fed all along;
- the meter's energy equals the consumption computed here from the load and the relay (metering
  tolerance), and the ledger was charged exactly that energy, pot by pot;
- no credit appeared: no code accepted, purchased credit only went down, every subsidy granted
  belongs to a month the clock moved forward into, once.
Prints the counts per port.
"""

import asyncio

from protocol import acse, civil, hdlc, wrapper
from protocol import cosem_client as C
from protocol import cosem_server as S
from protocol import registers as M
from protocol import sts_decoder as sts

import credentials
import ledger as L
from app import App, frame_buffer, optical_port
from boards import sim
from cosem_meter import CosemMeter
from meter import Meter
from token_profiles import StsProfile

from tests.firmware.seekflash import SeekFlash

KEY = bytes.fromhex("f94b6ed353c3bfdb113e2d3a7ea3c41d")
CODE_25_6_KWH = "63638916334124550935"
SECRET = b"the-head-end-only"
EK, AK, KEK = bytes(range(16)), bytes(range(0xD0, 0xE0)), bytes(range(0x40, 0x50))
SUBSIDY_WH = 3000
INPUTS = 10500  # 40 % optical, 30 % DLMS, 30 % keypad


class Rng:
    """xorshift32: the same run under every runtime."""

    def __init__(self, seed):
        self.x = seed

    def below(self, n):
        self.x = sim.xorshift32(self.x)
        return self.x % n

    def bytes(self, n):
        return bytes([self.below(256) for _ in range(n)])

    def choice(self, seq):
        return seq[self.below(len(seq))]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(1 + rng.below(4)):
        kind = rng.below(5)
        pos = rng.below(len(data) + 1)
        if kind == 0 and pos < len(data):
            data[pos] ^= 1 << rng.below(8)
        elif kind == 1:
            data = data[:pos]
        elif kind == 2:
            data[pos:pos] = rng.bytes(1 + rng.below(8))
        elif kind == 3 and pos < len(data):
            data[pos] = rng.choice((0x00, 0x7E, 0x7F, 0x80, 0x81, 0x82, 0xFF))
        else:
            data = data + data[pos:]
    return bytes(data)


def _apdus():
    """Valid requests of every service, for clients 16, 17 and 1, to be mutated."""
    init = acse.initiate_request(0x1C1F, 512)
    return [
        acse.aarq(1, acse.MECHANISM_NONE, init),
        acse.aarq(1, acse.MECHANISM_LLS, init, b"guess-1234"),
        acse.aarq(3, acse.MECHANISM_HLS_GMAC, b"\x21\x10" + bytes(16), b"C" * 16, b"ATTACKER"),
        acse.aarq(1, acse.MECHANISM_HLS_GMAC, init, b"C" * 16, b"ATTACKER"),  # the downgrade
        b"\xC0\x01\xC1" + C.descriptor(M.REGISTER, "1.0.1.8.0.255", 2) + b"\x00",
        b"\xC0\x01\xC1" + C.descriptor(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2) + b"\x01" + C.entry_selection(1, 4),
        b"\xC0\x02\xC1\x00\x00\x00\x01",
        b"\xC1\x01\xC1" + C.descriptor(M.CLOCK, M.CLOCK_OBIS, 2) + b"\x00\x09\x0c\x07\xec\x01\x01\xff\x00\x00\x00\x00"
        b"\x80\x00\x00",
        b"\xC1\x01\xC1" + C.descriptor(M.ASSOCIATION_LN, "0.0.40.0.0.255", 7) + b"\x00\x09\x08stolen!!",
        b"\xC3\x01\xC1" + C.descriptor(M.DISCONNECT_CONTROL, "0.0.96.3.10.255", 2) + b"\x01\x0f\x00",
        b"\xC3\x01\xC1" + C.descriptor(M.TOKEN_GATEWAY, "0.0.19.40.0.255", 1) + b"\x01\x09\x14" + b"1" * 20,
        b"\xC3\x01\xC1" + C.descriptor(M.SECURITY_SETUP, "0.0.43.0.1.255", 2) + b"\x01\x01\x01\x02\x02\x16\x00\x09\x18"
        + bytes(24),
        acse.rlrq(),
    ]


def _iec_lines():
    return [b"/?!\r\n", b"\x06050\r\n", b"\x06252\r\n", b"/?42!\r\n", b"/?\xff!\r\n", b"\x01P1\x02(x)\x03\x00"]


class Attack:
    def __init__(self, seed=13):
        self.rng = Rng(seed)
        self.flash = SeekFlash()
        self.clock = sim.SimClock(civil.seconds(2027, 1, 30, 12) + 5 * 3600)
        self.hal = sim.make_hal("/m", self.clock, opener=self.flash.open)
        creds = credentials.Credentials(None, EK, AK, KEK)
        creds.set_lls(SECRET)
        self.meter = Meter(self.hal, StsProfile(sts.StsState(KEY, ea=11, base_year=1993)), provisioned=creds)
        self.meter.boot(self.clock.now_s(), self.clock.ticks_ms())
        clock = self.clock
        self.model = CosemMeter(self.meter, lambda: (clock.now_s(), clock.ticks_ms()))
        fb, data = frame_buffer()
        self.app = App(self.hal, self.meter, fb, data, self.clock.sleep_ms, bursts_per_reading=1, burst_gap_ms=1000,
                       scan_ms=50, ui_ms=500, heartbeat_ms=5000, optical_port=optical_port(self.hal, self.meter))
        self.server = S.CosemServer(self.model, self.model, S.meter_keys(self.meter.dlms_access().credentials, "7"),
                                    guard=self.model)
        self.apdus = _apdus()
        self.counts = {"optical": 0, "dlms": 0, "keypad": 0, "clock": 0}
        self.expected_wh = 0.0
        self.load_w = 0
        self.taken = [0, 0, 0, 0]  # subsidy, purchased, owed, without credit (what Ledger.consume moved)
        self.months = []

    def _account(self, ms):
        if self.hal.relay.closed:
            self.expected_wh += self.load_w * ms / 3600000

    async def wait(self, ms):
        self._account(ms)
        await self.clock.sleep_ms(ms)

    async def optical(self):
        rng, probe = self.rng, self.hal.optical
        pick = rng.below(10)
        if pick < 3:
            data = rng.bytes(1 + rng.below(40))
        elif pick < 6:
            line = rng.choice(_iec_lines())
            data = line if rng.below(3) == 0 else mutate(rng, line)
        else:  # into mode E, then HDLC frames carrying APDUs, some mutated; mostly a DISC back to mode C
            link = hdlc.ClientLink(rng.choice((16, 17, 1)), 1)
            data = b"/?!\r\n\x06252\r\n" + link.snrm()
            if rng.below(2):
                link.connected = True
                data += link.send(rng.choice(self.apdus))
            data = data if rng.below(3) == 0 else mutate(rng, data)
            if rng.below(3):
                data += link.disc()
        probe.inbox = data
        await self.wait(60)
        probe.sent = b""  # what the meter answered, read by the attacker

    def dlms(self):
        rng = self.rng
        association = self.server.association()
        frames = wrapper.WrapperReader()
        for _ in range(1 + rng.below(3)):
            apdu = rng.choice(self.apdus)
            frame = wrapper.wrap(rng.choice((16, 17, 1, 99)), 1, apdu if rng.below(4) == 0 else mutate(rng, apdu))
            if rng.below(3) == 0:
                frame = mutate(rng, frame)
            try:
                received = frames.feed(frame)
            except wrapper.WrapperError:
                return  # not a wrapper frame: the connection is closed, as the simulator's port does
            for src, dst, request in received:
                reply = association.handle(src, request)  # must never raise
                assert isinstance(reply, bytes)

    async def keypad(self):
        rng = self.rng
        start = rng.choice("*#*#ABCD0")
        keys = start + "".join([rng.choice("0123456789ABCD*#") for _ in range(rng.below(30))])
        self.hal.keypad.type(keys)
        await self.wait(60 * (len(keys) + 1))

    def move_clock(self):
        """The management client moves the clock anywhere from 2 days back to 40 days on."""
        now = self.clock.now_s()
        offset = self.rng.below(42 * 86400) - 2 * 86400
        self.model.set_clock(now + offset)

    async def run(self):
        meter = self.meter
        meter.enter_code(CODE_25_6_KWH, self.clock.now_s(), self.clock.ticks_ms())
        meter.set_setting("subsidio_wh", SUBSIDY_WH)
        await self.wait(70000)  # the relay closes after its anti-chatter minute
        self.start_wh = meter.energy.import_wh
        self.start_purchased = meter.ledger.purchased_wh
        original, original_month = L.Ledger.consume, L.Ledger.new_month
        taken, months = self.taken, self.months
        enter = meter.recharger.enter
        accepted = self.accepted = []

        def recorded(code, now):  # every code the attacker got in, whatever the event log keeps
            outcome = enter(code, now)
            if outcome.ok:
                accepted.append(code)
            return outcome

        def granted(ledger, month, allowance_wh):
            done = original_month(ledger, month, allowance_wh)
            if done:
                months.append(month)
            return done

        def counted(ledger, wh):
            before = (ledger.subsidy_wh, ledger.purchased_wh, ledger.owed_wh)
            unbilled = original(ledger, wh)
            taken[0] += before[0] - ledger.subsidy_wh
            taken[1] += before[1] - ledger.purchased_wh
            taken[2] += ledger.owed_wh - before[2]
            taken[3] += unbilled
            return unbilled

        L.Ledger.consume = counted
        L.Ledger.new_month = granted
        meter.recharger.enter = recorded
        try:
            for i in range(INPUTS):
                if i % 250 == 0:
                    self.load_w = self.rng.below(1200)
                    self.hal.ac.load(self.load_w)
                if i % 150 == 0:
                    self.move_clock()
                    self.counts["clock"] += 1
                kind = i % 10
                if kind < 4:
                    await self.optical()
                    self.counts["optical"] += 1
                elif kind < 7:
                    self.dlms()
                    self.counts["dlms"] += 1
                    await self.wait(20)
                else:
                    await self.keypad()
                    self.counts["keypad"] += 1
                assert meter.ledger.purchased_wh <= self.start_purchased
                assert meter.ledger.subsidy_wh <= SUBSIDY_WH
            await self.wait(5000)
        finally:  # the end, measured while the ledger is still watched
            self.end_wh = meter.energy.import_wh
            self.end_purchased = meter.ledger.purchased_wh
            L.Ledger.consume = original
            L.Ledger.new_month = original_month
            self.app.running = False

    async def main(self):
        await asyncio.gather(self.app.main(), self.run())


def test_the_whole_app_withstands_ten_thousand_hostile_inputs():
    attack = Attack()
    asyncio.run(attack.main())
    app = attack.app
    counts = attack.counts
    assert counts["optical"] + counts["dlms"] + counts["keypad"] >= 10000
    # never an exception in any task, metering and the watchdog all along
    assert app.failures == 0
    assert app.hal.wdt.feeds >= attack.clock.ms // 1000 - 10
    used = attack.end_wh - attack.start_wh
    assert used > 300 and abs(used - attack.expected_wh) <= 0.02 * attack.expected_wh + 30, (used, attack.expected_wh)
    # the ledger was charged exactly that energy, and from nowhere else
    subsidy, purchased, owed, unbilled = attack.taken
    assert subsidy + purchased + owed == used and unbilled == owed == 0
    assert attack.start_purchased - attack.end_purchased == purchased
    assert attack.accepted == []  # no code an attacker typed or sent was accepted
    months = attack.months
    assert months == sorted(set(months))  # each month granted once, only forward
    assert subsidy <= SUBSIDY_WH * len(months)
    print("adversarial: optical %d, dlms %d, keypad %d inputs, clock moves %d; task failures %d; "
          "energy %d Wh (computed %d); credit created 0 (codes accepted %d, months granted %d)"
          % (counts["optical"], counts["dlms"], counts["keypad"], counts["clock"], app.failures, used,
             attack.expected_wh, len(attack.accepted), len(months)))
