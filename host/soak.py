"""`make soak`: the firmware and the virtual board as a ROMFS image, run by simulator/soak.py.

On a board the code lives in flash (a ROMFS partition, executed in place) and the
heap holds data only; here the image is read into the unix port's memory and
mounted the same way, and --heap is the heap the firmware gets beside it. --push
plain or ciphered: the meter pushes its events too, to a sender that records them
(read back and checked here, as a head-end gets them); all: one soak per mode, off included.
Prints what the soak prints and exits with its status (the first failure's).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from opsm.host.fwbuild import compile_tree, firmware_sources
from opsm.protocol import axdr, dlms_security, events, push, wrapper
from opsm.simulator.board import ROOT
from opsm.simulator.unix_port import micropython_command


# Holding and mounting the image on the unix port beyond its bytes (the bytes object's
# header ~100 B, VfsRom and the mount table ~100 B, measured): none of it is in a board's heap.
MOUNT_BYTES = 256
# simulator/soak.py's own code is compiled into the heap; its --push option grew it by this much
# (ROM_BYTES, the heap taken before the firmware's first import, 149376 -> 149984 B, measured): given
# back, so the firmware's share of --heap is what it was before.
PUSH_OPTION_BYTES = 608
PUSH_MODES = ("off", "plain", "ciphered")
# What simulator/soak.py sets on a pushing meter: its serial, its head-end, and (ciphered) EK and AK
SERIAL = "OPS00000042"
PUSH_TO = "192.0.2.1:4060"
EK, AK = bytes(range(16)), bytes(range(16, 32))
CAUSE_CREDIT_OUT, CAUSE_CREDIT_BACK = 2, 3  # firmware/lib/relay_policy.py


def _logged(state: str) -> list:
    """(seq, code, a, b) of the meter's event log (firmware/lib/eventlog.py's records), oldest first."""
    out = []
    for name in ("events.0", "events.1"):
        path = os.path.join(state, name)
        data = open(path, "rb").read() if os.path.exists(path) else b""
        for pos in range(0, len(data) - 15, 16):
            r = data[pos:pos + 16]
            out.append((int.from_bytes(r[0:4], "big"), r[8], int.from_bytes(r[9:12], "big"),
                        int.from_bytes(r[12:14], "big")))
    return sorted(out)


def pushed(state: str, ciphered: bool) -> list:
    """What the meter pushed, as the head-end gets it: (invocation counter or None, sequence number, event
    code, a, b) per frame, in the order sent."""
    path = os.path.join(state, "push-" + PUSH_TO)
    data = open(path, "rb").read() if os.path.exists(path) else b""
    title = push.system_title(SERIAL)
    out = []
    for src, dst, apdu in wrapper.WrapperReader().feed(data):
        ic = None
        if (src, dst) != (1, 102):
            raise ValueError("push frame from wPort %d to %d" % (src, dst))
        if ciphered:
            _, _, sender, content = dlms_security.unwrap(apdu)
            sc, ic, apdu = dlms_security.unprotect(content, sender, EK, AK)
            if sc != dlms_security.SC_AUTH_ENC or sender != title:
                raise ValueError("push frame not ciphered under the meter's keys")
        body = axdr.get(apdu, 18)[1]  # serial, code, event time, a, b, credit Wh, relay closed
        if body[0] != SERIAL:
            raise ValueError("push frame from serial %r" % body[0])
        out.append((ic, axdr.get_uint(apdu, 1, 4) & 0xFFFFFF, body[1], body[3], body[4]))
    return out


def push_checks(state: str, ciphered: bool) -> list:
    """The names of the push checks that fail: every event the meter pushes was pushed, in order (the
    power-up, the relay closing at the first recharge, low credit, the relay opening as the credit runs out and
    closing after the second recharge), and ciphered, under strictly increasing invocation counters."""
    try:
        frames = pushed(state, ciphered)
    except ValueError as e:
        return ["push frames read back: %s" % e]
    print("pushed=%d %s" % (len(frames), " ".join("%d:%d/%d/%d%s" % (seq, code, a, b, "" if ic is None else "@%d" % ic)
                                                  for ic, seq, code, a, b in frames)))
    due = [seq for seq, code, a, b in _logged(state) if code in (events.POWER_UP, events.LOW_CREDIT)
           or (code == events.RELAY and (a or b == CAUSE_CREDIT_OUT))]  # notifier.py's rule
    story = [(code, a, b) for _, _, code, a, b in frames[1:]]
    counters = [ic for ic, _, _, _, _ in frames]
    checks = (
        ("every event due was pushed once, in order", [seq for _, seq, _, _, _ in frames] == due),
        ("pushed: power-up, relay closed, low credit, relay open (credit out), relay closed (credit back)",
         len(story) == 4 and frames[0][2] == events.POWER_UP
         and story == [(events.RELAY, 1, CAUSE_CREDIT_BACK), (events.LOW_CREDIT, story[1][1], 0),
                       (events.RELAY, 0, CAUSE_CREDIT_OUT), (events.RELAY, 1, CAUSE_CREDIT_BACK)]),
        ("ciphered, invocation counters strictly increasing" if ciphered else "plain",
         None not in counters and all(b > a for a, b in zip(counters, counters[1:])) if ciphered
         else counters == [None] * len(frames)),
    )
    return [name for name, ok in checks if not ok]


def _kib(text: str) -> int:
    return int(text[:-1]) * 1024 if text[-1:].upper() == "K" else int(text)


def build_image(work: str) -> str:
    tree = os.path.join(work, "tree")
    compile_tree(firmware_sources() + [(os.path.join(ROOT, "boards", "sim.py"), "boards/sim.py"),
                                       (os.path.join(ROOT, "boards", "__init__.py"), "boards/__init__.py")], tree)
    image = os.path.join(work, "firmware.romfs")
    subprocess.run([sys.executable, "-m", "mpremote", "romfs", "--output", image, "build", tree],
                   check=True, capture_output=True)
    return image


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap", default="97K", help="heap the firmware gets beside its ROMFS image")
    parser.add_argument("--push", default="off", choices=PUSH_MODES + ("all",),
                        help="the meter also pushes its events (DLMS DataNotifications) to a recording sender: "
                             "plain, or ciphered (HLS keys set); all: one soak per mode")
    args = parser.parse_args(argv)
    modes = PUSH_MODES if args.push == "all" else (args.push,)
    with tempfile.TemporaryDirectory() as work:
        image = build_image(work)
        script = os.path.join(work, "soak.py")
        shutil.copy(os.path.join(ROOT, "simulator", "soak.py"), script)
        # The image's bytes sit in the unix heap (no flash here): add them, and what mounting costs.
        total = _kib(args.heap) + os.path.getsize(image) + MOUNT_BYTES + PUSH_OPTION_BYTES
        print("heap %s beside a %d-byte ROMFS image (unix heap %d bytes)" % (args.heap, os.path.getsize(image), total))
        status = 0
        for mode in modes:
            state = os.path.join(work, "flash-" + mode)
            os.makedirs(state)
            print("push %s:" % mode, flush=True)
            proc = subprocess.run(micropython_command() + ["-X", "heapsize=%d" % total, script, state, image]
                                  + ([] if mode == "off" else [mode]),
                                  env=dict(os.environ, MICROPYPATH="/rom:.frozen"), cwd=work, timeout=1800)
            failed = push_checks(state, mode == "ciphered") if mode != "off" else []
            for name in failed:
                print("FAILED:", name)
            status = status or proc.returncode or (1 if failed else 0)
        return status


if __name__ == "__main__":
    sys.exit(main())
