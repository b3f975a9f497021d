"""What people call the meter's events (protocol/events.py): scenarios write the English names,
reports print the Spanish ones. Kept apart from the codes so the firmware does not hold these strings."""

from .events import (ACCESS_LOCKOUT, ADMIN, ADVANCE, ADMIN_LOCKOUT, CLOCK_REFUSED, CLOCK_RESUMED, CLOCK_SET,
                             LOW_CREDIT, MONTH, POWER_UP, RECHARGE, REJECTED, RELAY, TASK_FAILED, WATCHDOG_RESET)

# code -> (English name as scenarios write it, Spanish name as reports print it)
NAMES = {
    POWER_UP: ("power up", "Encendido"),
    WATCHDOG_RESET: ("watchdog reset", "Reinicio por watchdog"),
    RECHARGE: ("recharge", "Recarga"),
    REJECTED: ("rejected", "Código rechazado"),
    RELAY: ("relay", "Relé"),
    ADMIN: ("admin", "Administración"),
    MONTH: ("month", "Cambio de mes"),
    LOW_CREDIT: ("low credit", "Crédito bajo"),
    ADMIN_LOCKOUT: ("admin lockout", "Bloqueo de administración"),
    CLOCK_SET: ("clock set", "Reloj ajustado"),
    CLOCK_REFUSED: ("clock refused", "Ajuste de reloj rechazado"),
    CLOCK_RESUMED: ("clock resumed", "Reloj recuperado al encender"),
    ACCESS_LOCKOUT: ("access lockout", "Bloqueo de acceso DLMS"),
    TASK_FAILED: ("task failed", "Falla de tarea"),
    ADVANCE: ("advance", "Crédito anticipado"),
}

# What the payloads of some events mean (the firmware writes these numbers: firmware/lib/meter.py,
# meterclock.py, app.py; ADMIN's 0-4 are protocol/events.ADMIN_SETTINGS, named here by their menu
# labels). Stable: they stay in flash and in harvested databases.
ADMIN_CHANGES = {0: "UID", 1: "DID", 2: "FECHA", 3: "CREDITO", 4: "SUBSIDIO", 6: "admin password",
                 8: "calibration", 9: "remote disconnect (b 1) or reconnect (b 0)", 10: "LLS secret (b: who)",
                 11: "HLS keys", 12: "field setting over DLMS (b: its row in registers.SETTINGS)",
                 13: "firmware activated, on trial from the next boot (b: major << 8 | minor)",
                 14: "firmware on trial confirmed healthy (b: major << 8 | minor)",
                 15: "firmware trial given up, the previous firmware back (b: boots tried)",
                 16: "firmware image refused (b: protocol/fw_image's reason code)"}
BY = {1: "keypad", 2: "DLMS"}
CLOCK_REFUSALS = {1: "before 2025", 2: "too far back", 3: "back again within a day of running time"}
TASKS = {1: "measure", 2: "keypad", 3: "screen", 4: "optical port"}
FAULTS = {1: "out of memory", 2: "bad value", 3: "I/O error", 9: "other error"}
