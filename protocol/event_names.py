"""What people call the meter's events (protocol/events.py): scenarios write the English names,
reports print the Spanish ones. Kept apart from the codes so the firmware does not hold these strings."""

from protocol.events import (ADMIN, ADMIN_LOCKOUT, LOW_CREDIT, MONTH, POWER_UP, RECHARGE, REJECTED, RELAY,
                             WATCHDOG_RESET)

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
}
