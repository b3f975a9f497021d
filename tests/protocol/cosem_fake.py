"""A COSEM server model with fixed values, for protocol tests on both runtimes."""

from protocol import fw_image as F
from protocol import image_transfer as T
from protocol import registers as M

START = 850000000  # 2026-12-08 (seconds since 2000, UTC)


class Rows:
    """`count` rows every `period` s up to START, computed on demand (a board keeps them in flash)."""

    def __init__(self, period, columns, count):
        self.period = period
        self.columns = columns
        self.capacity = 672
        self.entries = count

    def row(self, i):
        return tuple([START - (self.entries - i) * self.period] + [1000 * i + c for c in range(self.columns)])

    def range_index(self, from_s, to_s):
        first = 0
        while first < self.entries and self.row(first)[0] < from_s:
            first += 1
        last = first
        while last < self.entries and self.row(last)[0] <= to_s:
            last += 1
        return first, last - first


class RamStorage:
    """The image transfer object's storage in preallocated buffers (a block costs no allocation): the staged
    image, and the state record as last saved."""

    def __init__(self, size=4096):
        self.image = bytearray(size)
        self.state = bytearray(128)
        self.saved = 0

    def write(self, offset, data):
        self.image[offset:offset + len(data)] = data

    def chunks(self, size):
        for offset in range(0, size, 256):  # FileStorage's pieces
            yield bytes(self.image[offset:min(offset + 256, size)])

    def load(self):
        return bytes(self.state[:self.saved]) if self.saved else None

    def save(self, state):
        self.state[0:len(state)] = state
        self.saved = len(state)


class FakeMeter:
    def __init__(self, rows=96):
        self.now = START
        self.offset = -360  # Guatemala, UTC-6
        self.relay = True
        self.tokens = []
        self.profiles = [Rows(p.period_s or 60, len(p.columns), rows) for p in M.PROFILES]
        self.reserved = 0
        self.secret = b"secret"
        self.keys = None
        self.transfer = None
        self.activated = []

    def image_transfer(self):
        """An image transfer object that takes images signed under 32 zero bytes for an esp32 at 0.5.0."""
        if self.transfer is None:
            self.transfer = T.ImageTransfer(RamStorage(), 4096, lambda identifier: F.Verifier(
                bytes(32), "esp32", (0, 5, 0)), lambda manifest: self.activated.append(manifest) or True)
        return self.transfer

    def snapshot(self):
        return {"serial": b"OPS00000001", "import_wh": 33581, "export_wh": 0, "import_varh": 1200,
                "export_varh": 5, "power_w": -347, "voltage_mv": 119850, "current_ma": 2894, "freq_mhz": 59981,
                "pf_milli": -998, "battery_mv": 25460, "credit_wh": 1630438, "relay": self.relay,
                "ldn": b"OPS0000000000001", "firmware": b"fw", "control_state": 1 if self.relay else 0,
                "low_credit_wh": 2000, "owed_wh": 0, "event_code": 3, "token": b"", "token_time": 0,
                "token_status": 0}

    def counter_reserved(self):
        return self.reserved

    def reserve_counter(self, upto):
        self.reserved = upto

    def clock(self):
        return self.now, self.offset

    def set_clock(self, now):
        self.now = now
        return True

    def change_lls_secret(self, secret):
        self.secret = bytes(secret)
        return True

    def verify(self, secret):  # the LLS verifier, when a test serves the fake's own secret
        return bytes(secret) == self.secret

    def change_hls_keys(self, ek, ak, kek):
        self.keys = (ek, ak, kek)
        return True

    def profile(self, n):
        return self.profiles[n]

    def disconnect(self, reconnect):
        self.relay = reconnect
        return True

    def enter_token(self, token):
        self.tokens.append(token)
        return token == b"12345678901234567890"
