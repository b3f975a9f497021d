"""The meter's identity as the factory writes it: which codes it takes, its first key, its DLMS secrets.

`provision.json` in the storage root (written by `opsm fw provision`):
  {"profile": "sts", "key": hex, "ea": 11, "base_year": 2014, "krn": 1, "kt": 2, "ti": 1,
   "ken": 255, "sgc": 123457, "lls_password": text, "hls": {"ek": hex, "ak": hex, "kek": hex}}
  {"profile": "openpaygo", "key": hex, "starting_code": n or null, "extended": false,
   "restricted": false, ...the same secrets}
Either may add "settings": {"serial": PAN, "entity": name on the screen, "utc_offset_min": n,
   "friendly_start_h": h, "friendly_end_h": h, "low_credit_wh": n, "battery_cut_mv": n,
   "battery_restore_mv": n, "battery": "lead-acid" or "lifepo4"}  (settings.py's rules).
Only the first boot uses it: afterwards the state record (key changes included), the
credentials record and the settings record rule.
"""

import binascii
import json

import credentials
from settings import Settings
from token_profiles import StsProfile

FILE = "provision.json"
# What a provisioning document may set: the field settings (protocol/registers.SETTINGS) and identity.
_SETTINGS = ("serial", "entity", "utc_offset_min", "friendly_start_h", "friendly_end_h", "low_credit_wh",
             "battery_cut_mv", "battery_restore_mv", "battery")


def profile_from(doc: dict):
    """(profile, code lengths the keypad accepts) from a provisioning document."""
    kind = doc.get("profile")
    try:
        key = binascii.unhexlify(doc["key"])
    except (KeyError, ValueError):
        raise ValueError("provision: key must be hexadecimal")
    if kind == "sts":
        from protocol import sts_decoder as sts  # not at the top: the decoder is released after boot

        state = sts.StsState(key, doc.get("ea", 11), doc.get("krn", 1), doc.get("kt", 2), doc.get("ti", 1),
                             doc.get("ken", 255), doc.get("base_year", 2014), doc.get("sgc", 0))
        return StsProfile(state), (20,)
    if kind == "openpaygo":
        from openpaygo_profile import OpenPaygoProfile

        extended = bool(doc.get("extended"))
        restricted = bool(doc.get("restricted"))
        length = (20 if extended else 15) if restricted else (12 if extended else 9)
        return OpenPaygoProfile(key, doc.get("starting_code"), extended, restricted), (length,)
    raise ValueError("provision: profile must be 'sts' or 'openpaygo'")


def load(root: str, opener=open):
    """(profile, code lengths, credentials, settings) of the storage root's provision.json; any fault
    of the file is a ValueError that names it (the meter shows it instead of starting)."""
    try:
        with opener(root.rstrip("/") + "/" + FILE, "rb") as f:
            data = f.read()
    except OSError:
        raise ValueError("provision: no %s on the meter (opsm fw provision)" % FILE)
    try:
        doc = json.loads(bytes(data).decode())
    except ValueError:  # UnicodeError is one
        raise ValueError("provision: %s is not JSON" % FILE)
    if not isinstance(doc, dict):
        raise ValueError("provision: %s must hold one object" % FILE)
    try:
        profile, lengths = profile_from(doc)
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError("provision: a field has the wrong type (%r)" % (e,))
    return profile, lengths, credentials_from(doc), settings_from(doc)


def settings_from(doc: dict) -> Settings:
    """The first settings of a provisioning document's "settings" (defaults for what it leaves out)."""
    values = doc.get("settings") or {}
    if not isinstance(values, dict):
        raise ValueError("provision: settings must be an object")
    for name in values:
        if name not in _SETTINGS:
            raise ValueError("provision: settings.%s: not a field setting (%s)" % (name, ", ".join(_SETTINGS)))
    try:
        return Settings(values)
    except ValueError as e:
        raise ValueError("provision: settings." + str(e))


def credentials_from(doc: dict):
    """The credentials of a provisioning document: "lls_password" (text) and "hls" {"ek", "ak", "kek"} (hex)."""
    creds = credentials.Credentials()
    secret = doc.get("lls_password")
    if secret is not None:
        if not isinstance(secret, str):
            raise ValueError("provision: lls_password must be text")
        creds.set_lls(secret.encode())
    hls = doc.get("hls")
    if hls is not None:
        try:
            keys = [binascii.unhexlify(hls[name]) for name in ("ek", "ak", "kek")]
            creds = credentials.Credentials(creds.lls, keys[0], keys[1], keys[2])
        except (KeyError, TypeError, ValueError):
            raise ValueError("provision: hls needs ek, ak and kek, 32 hexadecimal digits each")
    return creds


def halt(hal, fb, fb_bytes, why: str) -> list:
    """A meter that cannot start (no provisioning, a broken file): supply off, the reason on the
    screen; returns the text shown."""
    import screens

    hal.relay(False)
    shown: list = []
    for y in range(0, screens.HEIGHT, fb.lines):
        fb.move(y)
        for text in screens.draw_prompt(fb, "SIN CONFIGURAR", why, ""):
            if text not in shown:
                shown.append(text)
        hal.display.show(fb_bytes, screens.PALETTE, y, y + fb.lines)
    return shown
