# OPSM-SP-230: choose the firmware slot to run (bootslot.mpy, beside this file: no update replaces either).
# Nothing else runs here, and nothing here may stop the REPL from starting.
try:
    import sys

    import bootslot

    bootslot.boot()
    del bootslot
    sys.modules.pop("bootslot")  # its heap is the firmware's: the app and the update import it when they need it
except Exception as e:  # noqa: BLE001 - slot a (lib/) stays on the path
    print("bootslot:", e)
