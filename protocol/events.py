"""The meter's event codes: what its event log keeps and the event log profile (0.0.99.98.0.255) sends.

One table for the firmware that logs them and the host and simulator that read them; their
names are in protocol/event_names.py, which the meter never loads (heap).
"""

PUSH_TEST = 0         # never logged: the code a test push carries (push setup method 1)
POWER_UP = 1
WATCHDOG_RESET = 2
RECHARGE = 3          # a: credit Wh the code brought (low 24 bits), b: part that repaid an advance, 0.1 kWh
REJECTED = 4          # a: reason index in protocol.token_result.REASONS
RELAY = 5             # a: 1 closed / 0 open, b: cause (relay_policy)
ADMIN = 6             # a: what changed, b: its detail (event_names.ADMIN_CHANGES)
MONTH = 7             # a: subsidy Wh granted
LOW_CREDIT = 8
ADMIN_LOCKOUT = 9     # a: lock seconds
CLOCK_SET = 10        # a: minutes moved (low 24 bits), b: who (event_names.BY) + 0x100 if moved back
CLOCK_REFUSED = 11    # a: why (event_names.CLOCK_REFUSALS), b: who
CLOCK_RESUMED = 12    # a: minutes the RTC was behind the last persisted time at power-up
ACCESS_LOCKOUT = 13   # a: wait seconds, b: failures (a wrong DLMS association)
TASK_FAILED = 14      # a: task, b: kind of error (event_names.TASKS, event_names.FAULTS)
ADVANCE = 15          # a: Wh the entity advanced (CREDITO), b: owed in all after it, 0.1 kWh

# ADMIN's a when the admin menu's SALIR saved a setting, by the setting's key (settings.py). Stable:
# older firmware wrote the same codes (then the item's place in its menu), so the menu's order means
# nothing here. The meter logs a credito_wh it saves as the ADVANCE it grants, not as code 3.
ADMIN_SETTINGS = {"uid": 0, "did": 1, "fecha": 2, "credito_wh": 3, "subsidio_wh": 4}

# The other payloads' codes live in the firmware module that writes them (private constants cost
# no heap) and, named for readers, in protocol/event_names.py; a test keeps the two the same.
