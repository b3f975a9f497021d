"""The meter's own DLMS secrets (the management client's LLS secret, the HLS-GMAC keys) and the
lock-out of wrong ones.

Each meter gets its own at provisioning (`opsm fw provision` writes them into
provision.json, provision.credentials_from reads them); they move into a power-safe
record the first time a port or the admin menu needs them, and that record rules from
then on. The LLS secret changes from the admin menu (digits) or over an HLS association
(SET of the association's secret); the keys by the security setup's key_transfer,
wrapped under the master key (KEK). The LLS secret is kept as a salted, iterated digest
(password.py): a flash dump does not give it away, and every try costs the digest's
rounds. The keys stay in clear: GCM needs them. There is no factory default: a meter
provisioned without them serves only the public client (reads, no secrets).
Wrong secrets lock further associations with a secret out for a growing time
(protocol.lockout), counted in running time and kept in the same record.
"""

from protocol import events
from protocol.lockout import Lockout, unpack_lockout

import password

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_VERSION = const(1)
_ADMIN_LLS_SECRET = const(10)  # ADMIN event payloads (protocol/event_names.ADMIN_CHANGES)
_ADMIN_HLS_KEYS = const(11)


class Credentials:
    def __init__(self, lls=None, ek: bytes = b"", ak: bytes = b"", kek: bytes = b""):
        if len(ek) != len(ak) or len(ek) not in (0, 16) or len(kek) not in (0, 16) or (kek and not ek):
            raise ValueError("hls: ek and ak must be 16 bytes each (kek too, when given)")
        self.lls = lls      # password.PasswordRecord of the LLS secret, or None (LLS off)
        self.ek = ek        # global unicast encryption key, authentication key, master key
        self.ak = ak
        self.kek = kek

    def verify(self, secret) -> bool:
        """An AARQ's LLS authentication value against the secret (bytes, possibly hostile)."""
        return self.lls is not None and self.lls.verify(bytes(secret))

    def set_lls(self, secret) -> None:
        from protocol.acse import check_lls_secret  # only to change it: the keys alone (pushes) need no ACSE

        check_lls_secret(secret)
        self.lls = password.new_record(bytes(secret))

    @property
    def hls(self) -> bool:
        return bool(self.ek)

    def pack(self) -> bytes:
        lls = self.lls.pack() if self.lls is not None else b""
        return bytes((_VERSION, len(lls), len(self.kek))) + lls + self.ek + self.ak + self.kek


def unpack_credentials(data) -> Credentials:
    """version | LLS record length | KEK length | LLS record | EK AK (or nothing) | KEK."""
    if len(data) < 3 or data[0] != _VERSION:
        raise ValueError("credentials: unknown record version")
    end = 3 + data[1]
    keys = bytes(data[end:])
    if len(keys) not in (0, 32 + data[2]):
        raise ValueError("credentials: record has the wrong length")
    lls = password.unpack_password(data[3:end]) if data[1] else None
    return Credentials(lls, keys[0:16], keys[16:32], keys[32:])


class DlmsAccess:
    """The credentials and the association lock-out of one meter, in its "dlms" record.

    meter: the Meter (its record stores, event log, running time and wall clock)."""

    def __init__(self, meter, provisioned=None):
        self.meter = meter
        self.lockout = Lockout()
        data = meter.record("dlms").load()
        if data is None:
            self.credentials = provisioned or Credentials()
            if provisioned is not None:
                self.save()
        else:
            self.lockout = unpack_lockout(data[0:7])
            self.credentials = unpack_credentials(data[7:])

    def save(self) -> None:
        self.meter.record("dlms", True).save(self.lockout.pack() + self.credentials.pack())

    def verify(self, secret) -> bool:
        return self.credentials.verify(secret)

    def wait(self) -> int:
        """Seconds before an association with a secret may be tried again (0: now)."""
        return self.lockout.remaining(self.meter.clock.run_s)

    def result(self, ok: bool) -> None:
        """An association with a secret succeeded or failed; failures lock, persisted and logged."""
        lockout = self.lockout
        if ok:
            if lockout.failures:
                lockout.success()
                self.save()
            return
        wait = lockout.failure(self.meter.clock.run_s)
        self.save()
        if wait:
            self._log(events.ACCESS_LOCKOUT, wait, lockout.failures)

    def change_lls(self, secret, by: int) -> bool:
        try:
            self.credentials.set_lls(secret)
        except ValueError:
            return False
        self.save()
        self._log(events.ADMIN, _ADMIN_LLS_SECRET, by)
        return True

    def change_keys(self, ek: bytes, ak: bytes, kek: bytes) -> bool:
        """New HLS keys (an HLS association's key_transfer, already unwrapped and checked)."""
        self.credentials = Credentials(self.credentials.lls, ek, ak, kek)
        self.save()
        self._log(events.ADMIN, _ADMIN_HLS_KEYS)
        return True

    def _log(self, code: int, a: int = 0, b: int = 0) -> None:
        self.meter.log.append(self.meter.hal.clock.now_s(), code, a, b)
