"""The meter as the COSEM server's model: values, profiles, clock and the actions a port may take.

protocol/cosem_server.py knows objects and bytes; this adapter knows where the values
live in the firmware (Meter, its load profiles and event log) and applies a relay
command, a token, a clock change or a new secret exactly as the keypad path does, under
the meter's rules. `clock()` returns (now_s, now_ms): the board's RTC and ticks, or the
simulator's virtual clock. It is also the server's guard: wrong secrets go to the meter's
persisted association lock-out.
"""

from protocol import events
from protocol import registers as M
from protocol import token_result as R

import bootslot
from hal import release
from meter import BY_DLMS

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython: the name below is for the type checker only (loaded at first use)
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from protocol.image_transfer import ImageTransfer

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

MODEL_NAME = "OPSM-SP-230 fw "  # the active firmware identifier (1.0.0.2.0.255) is this and the version, 0.5.0

# IEC 62056-6-2 token_status codes
_TOKEN_EXECUTION_OK = 3
_TOKEN_FORMAT_FAIL = 4
_TOKEN_AUTHENTICATION_FAIL = 5
_TOKEN_VALIDATION_FAIL = 6
_TOKEN_EXECUTION_FAIL = 7
_ADMIN_SETTING = const(12)  # ADMIN event: a field setting written (b: its row in registers.SETTINGS)
_REASON_STATUS = {R.FORMAT: _TOKEN_FORMAT_FAIL, R.CRC: _TOKEN_AUTHENTICATION_FAIL, R.KEY_TYPE: _TOKEN_AUTHENTICATION_FAIL,
                  R.DDTK: _TOKEN_AUTHENTICATION_FAIL, R.INVALID: _TOKEN_AUTHENTICATION_FAIL,
                  R.OVERFLOW: _TOKEN_EXECUTION_FAIL, R.RANGE: _TOKEN_EXECUTION_FAIL}


class EventRows:
    """The event log as profile rows (time, event code), newest last."""

    def __init__(self, log):
        self._log = log
        self._seq = -1
        self._rows: list = []
        self.capacity = 2 * log.segment_records

    def _fresh(self) -> list:
        if self._seq != self._log.seq:
            self._rows = [(e[1], e[2]) for e in self._log.events()]
            self._seq = self._log.seq
        return self._rows

    @property
    def entries(self) -> int:
        return len(self._fresh())

    def row(self, i: int) -> tuple:
        return self._fresh()[i]

    def range_index(self, from_s: int, to_s: int) -> tuple:
        rows = self._fresh()
        first = 0
        while first < len(rows) and rows[first][0] < from_s:
            first += 1
        last = first
        while last < len(rows) and rows[last][0] <= to_s:
            last += 1
        return first, last - first


class CosemMeter:
    def __init__(self, meter, clock):
        self._clock = clock
        self.attach(meter)
        self.token = b""
        self.token_time = 0
        self.token_status = 0

    def attach(self, meter) -> None:
        """Serve this Meter (a reboot makes a new one; the ports and their state stay)."""
        self.meter = meter
        self._events = EventRows(meter.log)
        # the slot boot.py chose holds this version (a reboot, as after an activation, makes a new one)
        version = bootslot.version(meter.hal.storage_root.rstrip("/") + "/")
        self._firmware = (MODEL_NAME + "%d.%d.%d" % version).encode()
        self._transfer: "ImageTransfer | None" = None  # rebuilt from its flash record at the next use, as after a reboot

    def clock(self) -> tuple:
        return self._clock()[0], self.meter.settings.get("utc_offset_min")

    def set_clock(self, now_s: int) -> bool:
        return self.meter.set_clock(now_s, self._clock()[1], BY_DLMS)

    def verify(self, secret) -> bool:
        """The LLS verifier: the meter's credentials, as they are now."""
        return self.meter.dlms_access().verify(secret)

    def change_lls_secret(self, secret) -> bool:
        return self.meter.dlms_access().change_lls(bytes(secret), BY_DLMS)

    def change_hls_keys(self, ek: bytes, ak: bytes, kek: bytes) -> bool:
        return self.meter.dlms_access().change_keys(ek, ak, kek)

    def access_wait(self) -> int:
        return self.meter.dlms_access().wait()

    def access_result(self, ok: bool) -> None:
        self.meter.dlms_access().result(ok)

    def set_setting(self, row: int, value) -> bool:
        """A field setting written over a management association: the settings' own rule, saved and
        applied at once, logged."""
        try:
            self.meter.set_setting(M.SETTINGS[row].key, value)
        except ValueError:
            return False
        self.meter.log.append(self._clock()[0], events.ADMIN, _ADMIN_SETTING, row)
        return True

    def counter_reserved(self) -> int:
        return self.meter.settings.get("dlms_counter")

    def reserve_counter(self, upto: int) -> None:
        self.meter.set_setting("dlms_counter", upto)

    def push(self) -> bool:
        """Push setup method 1: a test notification now; False while push is off."""
        notifier = self.meter.log.listener  # notifier.Notifier while the meter pushes
        if notifier is None:
            return False
        notifier.test(self._clock()[0])
        return True

    def image_transfer(self) -> "ImageTransfer":
        """The image transfer object (IC 18), made at its first use: a meter never updated pays no heap."""
        if self._transfer is None:
            recharger = self.meter.recharger
            recharger.release()  # the token decoder's room for the update's code (a code loads it back)
            import fw_update

            self._transfer = fw_update.image_transfer(self.meter, self._clock)
            recharger.make_room = self._drop_transfer
        return self._transfer

    def _drop_transfer(self) -> None:
        """A code found no room for the decoder: the transfer object and the update's code go (its state is
        in flash, so the client's next request resumes it, as after a reboot)."""
        import fw_update  # loaded: the transfer used it

        self._transfer = None
        release(fw_update.MODULES)

    def profile(self, n: int):
        profiles = self.meter.profiles
        return profiles[n] if n < len(profiles) else self._events

    def snapshot(self) -> dict:
        meter = self.meter
        values = meter.snapshot()
        serial = str(values["serial"]).encode()
        values["ldn"] = (b"OPS" + serial + bytes(13))[:16]
        values["firmware"] = self._firmware
        values["control_state"] = 1 if meter.relay.closed else 0
        values["low_credit_wh"] = meter.settings.get("low_credit_wh")
        values["owed_wh"] = meter.ledger.owed_wh
        for row in M.SETTINGS:
            values[row.key] = meter.settings.get(row.key)
        values["event_code"] = self._events.row(self._events.entries - 1)[1] if self._events.entries else 0
        values["token"] = self.token
        values["token_time"] = self.token_time
        values["token_status"] = self.token_status
        return values

    def disconnect(self, reconnect: bool) -> bool:
        now_s, _ = self._clock()
        return self.meter.remote_switch(reconnect, now_s)

    def enter_token(self, token: bytes) -> bool:
        """A token from a port: the keypad's path (lock-out, decode, apply, log, screen)."""
        now_s, now_ms = self._clock()
        self.token = bytes(token)
        self.token_time = now_s
        try:
            code = self.token.decode()
        except UnicodeError:
            code = ""
        if not code.isdigit():
            self.token_status = _TOKEN_FORMAT_FAIL
            return False
        outcome = self.meter.enter_code(code, now_s, now_ms)
        if outcome.ok:
            self.token_status = _TOKEN_EXECUTION_OK
        else:
            self.token_status = _REASON_STATUS.get(outcome.reason, _TOKEN_VALIDATION_FAIL)
        return outcome.ok
