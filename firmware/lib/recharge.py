"""The recharge pipeline behind the keypad: lock-out, decode, apply, persist atomically.

Decoder state (TID memory or OpenPAYGO counts, key, pending key change sections),
the credit ledger, token-set limits, the lock-out and the energy registers live in
one record, written with one save: a code is either wholly applied or not at all,
whatever fails in between, and consumption is never charged without its energy.
The token family is a profile (token_profiles.py). The decoder is built for each code from the
state's bytes, so its modules can leave the heap when a firmware transfer needs the room (release()).
"""

import gc

from protocol import token_result as R
from protocol.lockout import Lockout, unpack_lockout

import hal
from ledger import Ledger, unpack_ledger
import token_profiles

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_VERSION = const(4)  # 4 added the clock part; 3 kept its lock-out in wall time
# What an accepted code that moves no credit did, as the screen says it.
_DONE = {R.MAX_POWER: "Limite de potencia fijado", R.CLEAR_CREDIT: "Credito borrado",
         R.TARIFF: "Tarifa fijada", R.CLEAR_TAMPER: "Manipulacion borrada",
         R.PHASE_UNBALANCE: "Limite de desbalance fijado", R.KEY_CHANGE: "Clave nueva instalada",
         R.TEST: "Prueba del medidor"}
_REGISTER_ELECTRICITY = const(0)
_REGISTER_ALL = const(0xFFFF)


class Limits:
    """Values set by management tokens (0: not set)."""

    def __init__(self, max_power_w: int = 0, phase_unbalance_w: int = 0, tariff_rate: int = 0,
                 tamper: int = 0):
        self.max_power_w = max_power_w
        self.phase_unbalance_w = phase_unbalance_w
        self.tariff_rate = tariff_rate
        self.tamper = tamper

    def pack(self) -> bytes:
        return (self.max_power_w.to_bytes(4, "big") + self.phase_unbalance_w.to_bytes(4, "big")
                + self.tariff_rate.to_bytes(2, "big") + bytes((self.tamper,)))


def unpack_limits(data) -> Limits:
    if len(data) != 11:
        raise ValueError("limits: record must be 11 bytes")
    return Limits(int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big"),
                  int.from_bytes(data[8:10], "big"), data[10])


class Outcome:
    """What the screen and the event log say about one entry."""

    def __init__(self, result, credit_wh: int = 0, lock_s: int = 0, repaid_wh: int = 0):
        self.ok = result.ok
        self.reason = result.reason
        self.kind = result.kind
        # Not the result itself: its class would keep the released decoder's modules in the heap.
        self.sections = (result.sections, result.sections_needed) if result.kind == R.KEY_SECTION else None
        self.credit_wh = credit_wh   # credit the code brought, or negative when cleared
        self.repaid_wh = repaid_wh   # part of it that repaid emergency credit
        self.lock_s = lock_s         # lock-out this entry started

    def message(self) -> str:
        if not self.ok:
            return R.MESSAGES[self.reason]
        if self.credit_wh > 0:
            text = "+%d.%d kWh" % (self.credit_wh // 1000, self.credit_wh % 1000 // 100)
            if self.repaid_wh:
                text += " (-%d.%d prestado)" % (self.repaid_wh // 1000, self.repaid_wh % 1000 // 100)
            return text
        if self.sections is not None:
            return "Clave: parte %d de %d" % self.sections
        return _DONE.get(self.kind, "Codigo aceptado")


class _Refusal:
    """A rejection decided by the meter rather than the decoder (lock-out, overflow)."""

    def __init__(self, reason):
        self.ok = False
        self.reason = reason
        self.kind = None


def _field(data, pos):
    size = int.from_bytes(data[pos:pos + 2], "big")
    return data[pos + 2:pos + 2 + size], pos + 2 + size


class Recharger:
    # What holds heap for something that can wait (an idle firmware transfer: cosem_meter sets it), given up
    # when a code finds no room for the decoder: a code comes first. None: nothing to give up. A class
    # attribute until set, so that the pipeline's own dict does not grow for it at boot.
    make_room = None

    def __init__(self, store, profile, energy=None, clock=None):
        """Restore from the newest good record in `store`, or start from the profile's factory state.
        energy (metering.EnergyRegister) and clock (meterclock.MeterClock) ride in the same record:
        restored in place, saved with every change of credit."""
        self.store = store
        self.profile = profile
        self.ledger = Ledger()
        self.lockout = Lockout()
        self.limits = Limits()
        self.energy = energy
        self.clock = clock
        data = store.load()
        if data is None:
            self.state = profile.decoder().state.pack()  # the profile's factory state
        else:
            self._unpack(data)
            profile.decoder(self.state)  # a decoder state this firmware cannot read stops it here, at boot

    def reload(self) -> bool:
        """Take the state on flash as the truth; False if there is no record yet."""
        data = self.store.load()
        if data is None:
            return False
        self._unpack(data)
        return True

    def _unpack(self, data) -> None:
        if data[0] not in (3, _VERSION):
            raise ValueError("recharge record: unknown version %d" % data[0])
        if data[1] != self.profile.tag:
            raise ValueError("recharge record: written for another token profile")
        parts = []
        pos = 2
        while pos < len(data):
            part, pos = _field(data, pos)
            parts.append(part)
        if len(parts) != data[0] + 2:
            raise ValueError("recharge record: %d parts instead of %d" % (len(parts), data[0] + 2))
        self.state = parts[0]  # the decoder's state, packed
        self.ledger = unpack_ledger(parts[1])
        self.lockout = unpack_lockout(parts[2])
        if data[0] == 3:
            self.lockout.until = 0  # it counted wall time: the failures stay, the lock does not
        self.limits = unpack_limits(parts[3])
        for extra, part in zip((self.energy, self.clock), parts[4:]):
            if extra is not None and part:
                extra.restore(part)

    def pack(self) -> bytearray:
        # Part by part into one buffer: a recharge packs twice (the snapshot, then the save), so
        # every copy avoided here is heap free for the decoder when the meter is at its fullest.
        out = bytearray((_VERSION, self.profile.tag))
        out += len(self.state).to_bytes(2, "big")
        out += self.state
        for part in (self.ledger, self.lockout, self.limits, self.energy, self.clock):
            data = part.pack() if part is not None else b""
            out += len(data).to_bytes(2, "big")
            out += data
        return out

    def save(self) -> None:
        """Persist after consumption (the pipeline saves recharges itself)."""
        self.store.save(self.pack())

    def enter(self, code: str, now: int) -> Outcome:
        """One code typed on the keypad (or delivered over a port); `now` is the meter's
        running time in seconds (meterclock), which the lock-out counts in."""
        if self.lockout.remaining(now):
            return Outcome(_Refusal(R.LOCKED))
        try:
            decoder = self._decoder()
        except MemoryError:  # its modules found no room even so: nothing changed, try later
            return Outcome(_Refusal(R.BUSY))
        result = decoder.decode(code)
        credit = self.profile.credit(result) if result.ok else None
        if credit is not None:
            extra = credit[1] if credit[0] == token_profiles.ADD else credit[1] - self.ledger.purchased_wh
            if not self.ledger.room_for(extra):
                result = _Refusal(R.OVERFLOW)
        lock_s = 0
        change = repaid = 0
        snapshot = self.pack()
        try:
            if result.ok:
                change, repaid = self._apply(decoder, result, credit)
                if result.kind != R.TEST:  # anyone can forge a test token: it proves no key
                    self.lockout.success()
            else:
                lock_s = self.lockout.failure(now)
            self.store.save(self.pack())
        except Exception:
            # Whatever reached flash is what the meter has: never more, never less.
            if not self.reload():
                self._unpack(snapshot)
            raise
        return Outcome(result, change, lock_s, repaid)

    def _decoder(self):
        try:
            return self.profile.decoder(self.state)
        except MemoryError:
            if self.make_room is None:
                raise
        self.make_room()
        self.make_room = None
        gc.collect()
        return self.profile.decoder(self.state)

    def release(self) -> None:
        """Let the decoder's modules leave the heap, collected at once (a firmware transfer takes their
        room); the next code imports them again."""
        hal.release(self.profile.modules)
        gc.collect()

    def _apply(self, decoder, result, credit):
        """Apply an accepted code; returns (change of credit, emergency credit repaid) in Wh."""
        decoder.commit(result)
        self.state = decoder.state.pack()
        before = self.ledger.purchased_wh
        kind = result.kind
        if credit is not None:
            if credit[0] == token_profiles.ADD:
                return credit[1], self.ledger.add(credit[1])
            if credit[0] == token_profiles.SET:
                self.ledger.set(credit[1])
            else:
                self.ledger.unlimited = 1
        elif kind == R.CLEAR_CREDIT:
            if result.value in (_REGISTER_ELECTRICITY, _REGISTER_ALL):
                self.ledger.clear()
        elif kind == R.MAX_POWER:
            self.limits.max_power_w = result.amount
        elif kind == R.PHASE_UNBALANCE:
            self.limits.phase_unbalance_w = result.amount
        elif kind == R.TARIFF:
            self.limits.tariff_rate = result.value
        elif kind == R.CLEAR_TAMPER:
            self.limits.tamper = 0
        return self.ledger.purchased_wh - before, 0
