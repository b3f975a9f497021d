"""Which firmware slot a meter boots, a new one's trial, and the fall back to the previous slot.

Two slots hold the firmware's modules: slot "a" is `lib/` (where `opsm fw deploy` puts them), slot "b"
is `lib_b/`, both under the storage root; the meter's records (credit, TID memory, keys, events) are
outside both, so no update or rollback touches them. Three small files in the storage root say what to
boot, each replaced whole by a rename (atomic on littlefs, the boards' file system):

  fwslot      the confirmed slot ("a" when absent: a meter as the factory deployed it)
  fwtrial     "SLOT N": SLOT was activated and is on trial, N boots of it so far
  fwrollback  "SLOT N": SLOT was given up after N boots that never confirmed it (the firmware logs it)

boot.py calls select() before anything else: a slot on trial is booted at most MAX_TRIAL_BOOTS times
(each boot counted before it runs, so a crash or a watchdog reset counts); then the confirmed slot
boots again. The firmware calls confirm() once it has run healthy for a while (app.py).

This module is built into the file system's root, not into a slot (fwbuild.ROOT_MODULES), so no image
can break the choice of what to boot; it is not updated over the air.
"""

import os

SLOTS = ("a", "b")
FOLDERS = ("lib", "lib_b")
ACTIVE = "fwslot"
TRIAL = "fwtrial"
ROLLBACK = "fwrollback"
MAX_TRIAL_BOOTS = 3
VERSION_FILE = "fw.version"  # in a slot's folder: the version of the image unpacked there, "1.4.0"
FACTORY_VERSION = (0, 5, 0)  # a slot without one holds the firmware as built and deployed: this version


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    """Replace the file whole: a power cut leaves the old text or the new, never a part."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.rename(path + ".new", path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def folder(root: str, slot: str) -> str:
    return root + FOLDERS[SLOTS.index(slot)]


def other(slot: str) -> str:
    return SLOTS[1 - SLOTS.index(slot)]


def active(root: str) -> str:
    slot = _read(root + ACTIVE)
    return slot if slot in SLOTS else "a"


def trial(root: str):
    """(slot, boots so far) of the slot on trial, or None."""
    parts = _read(root + TRIAL).split()
    if len(parts) == 2 and parts[0] in SLOTS and parts[1].isdigit():
        return parts[0], int(parts[1])
    return None


def select(root: str) -> str:
    """The slot to boot now, counting a trial boot or giving the trial up (see the module's text)."""
    confirmed = active(root)
    on_trial = trial(root)
    if on_trial is None or on_trial[0] == confirmed:
        _remove(root + TRIAL)  # nothing on trial (or a confirm cut short before it removed the file)
        return confirmed
    slot, boots = on_trial
    if boots >= MAX_TRIAL_BOOTS:
        _write(root + ROLLBACK, "%s %d" % on_trial)  # first: a cut here gives the trial up again next boot
        _remove(root + TRIAL)
        return confirmed
    _write(root + TRIAL, "%s %d" % (slot, boots + 1))
    return slot


def running(root: str) -> str:
    """The slot select() chose at this boot."""
    on_trial = trial(root)
    return on_trial[0] if on_trial is not None else active(root)


def version(root: str) -> tuple:
    """The running firmware's version: (major, minor, patch)."""
    parts = _read(folder(root, running(root)) + "/" + VERSION_FILE).split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return FACTORY_VERSION


def start_trial(root: str, slot: str) -> None:
    """Boot `slot` on trial from the next boot on: the commit point of an activation."""
    _write(root + TRIAL, "%s 0" % slot)


def confirm(root: str) -> None:
    """The slot on trial runs healthy: it becomes the confirmed slot."""
    on_trial = trial(root)
    if on_trial is not None:
        _write(root + ACTIVE, on_trial[0])
        _remove(root + TRIAL)


def take_rollback(root: str):
    """(slot, boots) of a trial given up since the firmware last looked, once; or None."""
    parts = _read(root + ROLLBACK).split()
    _remove(root + ROLLBACK)
    if len(parts) == 2 and parts[0] in SLOTS and parts[1].isdigit():
        return parts[0], int(parts[1])
    return None


def boot(root: str = "/") -> str:
    """boot.py's work: select the slot and put its folder first on the module path, in place of lib/."""
    import sys

    path = folder(root, select(root))
    for name in ("/lib", root + "lib"):
        if name in sys.path:
            sys.path.remove(name)
    sys.path.insert(0, path)
    return path
