"""The meter's event codes: what its event log keeps and the event log profile (0.0.99.98.0.255) sends.

One table for the firmware that logs them and the host and simulator that read them; their
names are in protocol/event_names.py, which the meter never loads (heap).
"""

POWER_UP = 1
WATCHDOG_RESET = 2
RECHARGE = 3          # a: credit Wh (low 24 bits), b: token kind index
REJECTED = 4          # a: reason index in protocol.token_result.REASONS
RELAY = 5             # a: 1 closed / 0 open, b: cause (relay_policy)
ADMIN = 6             # a: setting index, b: 0
MONTH = 7             # a: subsidy Wh granted
LOW_CREDIT = 8
ADMIN_LOCKOUT = 9     # a: lock seconds
