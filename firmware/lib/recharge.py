"""The recharge pipeline behind the keypad: lock-out, decode, apply, persist atomically.

Decoder state (TID memory or OpenPAYGO counts, key, pending key change sections),
the credit ledger, token-set limits, the lock-out and the energy registers live in
one record, written with one save: a code is either wholly applied or not at all,
whatever fails in between, and consumption is never charged without its energy.
The token family is a profile (token_profiles.py).
"""

from protocol import sts_decoder as sts
from protocol import token_result as R
from protocol.lockout import Lockout, unpack_lockout

from ledger import Ledger, unpack_ledger
import token_profiles

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_VERSION = const(4)  # 4 added the clock part; 3 kept its lock-out in wall time
# What an accepted code that moves no credit did, as the screen says it.
_DONE = {sts.MAX_POWER: "Limite de potencia fijado", sts.CLEAR_CREDIT: "Credito borrado",
         sts.TARIFF: "Tarifa fijada", sts.CLEAR_TAMPER: "Manipulacion borrada",
         sts.PHASE_UNBALANCE: "Limite de desbalance fijado", sts.KEY_CHANGE: "Clave nueva instalada",
         sts.TEST: "Prueba del medidor"}
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
        self.result = result
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
        if self.kind == sts.KEY_SECTION:
            return "Clave: parte %d de %d" % (self.result.sections, self.result.sections_needed)
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
    def __init__(self, store, profile, energy=None, clock=None):
        """Restore from the newest good record in `store`, or start from the profile's
        factory state (one decoder, and one key schedule, is ever built). energy
        (metering.EnergyRegister) and clock (meterclock.MeterClock) ride in the same record:
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
            self.decoder = profile.decoder()
        else:
            self._unpack(data)

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
        self.decoder = self.profile.decoder(parts[0])
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
        for part in (self.decoder.state, self.ledger, self.lockout, self.limits, self.energy, self.clock):
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
        result = self.decoder.decode(code)
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
                change, repaid = self._apply(result, credit)
                if result.kind != sts.TEST:  # anyone can forge a test token: it proves no key
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

    def _apply(self, result, credit):
        """Apply an accepted code; returns (change of credit, emergency credit repaid) in Wh."""
        self.decoder.commit(result)
        before = self.ledger.purchased_wh
        kind = result.kind
        if credit is not None:
            if credit[0] == token_profiles.ADD:
                return credit[1], self.ledger.add(credit[1])
            if credit[0] == token_profiles.SET:
                self.ledger.set(credit[1])
            else:
                self.ledger.unlimited = 1
        elif kind == sts.CLEAR_CREDIT:
            if result.value in (_REGISTER_ELECTRICITY, _REGISTER_ALL):
                self.ledger.clear()
        elif kind == sts.MAX_POWER:
            self.limits.max_power_w = result.amount
        elif kind == sts.PHASE_UNBALANCE:
            self.limits.phase_unbalance_w = result.amount
        elif kind == sts.TARIFF:
            self.limits.tariff_rate = result.value
        elif kind == sts.CLEAR_TAMPER:
            self.limits.tamper = 0
        return self.ledger.purchased_wh - before, 0
