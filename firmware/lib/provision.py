"""The meter's identity as the factory writes it: which codes it takes and its first key.

`provision.json` in the storage root (written by `opsm fw provision`):
  {"profile": "sts", "key": hex, "ea": 11, "base_year": 2014, "krn": 1, "kt": 2, "ti": 1,
   "ken": 255, "sgc": 123457}
  {"profile": "openpaygo", "key": hex, "starting_code": n or null, "extended": false,
   "restricted": false}
Only the first boot uses it: afterwards the state record (key changes included) rules.
"""

import binascii
import json

from protocol import sts_decoder as sts

from token_profiles import StsProfile

FILE = "provision.json"


def profile_from(doc: dict):
    """(profile, code lengths the keypad accepts) from a provisioning document."""
    kind = doc.get("profile")
    try:
        key = binascii.unhexlify(doc["key"])
    except (KeyError, ValueError):
        raise ValueError("provision: key must be hexadecimal")
    if kind == "sts":
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


def load_profile(root: str):
    with open(root.rstrip("/") + "/" + FILE) as f:
        return profile_from(json.load(f))
