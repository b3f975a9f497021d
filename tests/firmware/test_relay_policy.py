"""Relay rules: credit, friendly hours, battery hysteresis, anti-chatter (MicroPython and CPython)."""

from relay_policy import (CAUSE_BATTERY_LOW, CAUSE_BATTERY_OK, CAUSE_CREDIT_BACK, CAUSE_CREDIT_OUT,
                          CAUSE_REMOTE, RelayPolicy, RelaySettings)

OK_MV = 25600
FAULT = 7  # relay_policy's cause for a metering fault (a private constant there: no heap on a board)


def _policy(**kw):
    policy = RelayPolicy(RelaySettings(**kw))
    policy.boot(0, 12, 1000, 0, OK_MV)
    return policy


def test_boot_state_follows_persisted_credit_and_battery():
    policy = RelayPolicy(RelaySettings())
    assert not policy.closed  # before boot() decides, the relay is open
    assert policy.boot(0, 12, 500, 0, OK_MV) is True
    assert policy.boot(0, 12, 0, 0, OK_MV) is False
    assert policy.boot(0, 12, 0, 1, OK_MV) is True       # pay-as-you-go over
    assert policy.boot(0, 12, 500, 0, 21000) is False    # battery too low


def test_cut_at_zero_credit_and_restore_when_credit_returns():
    policy = _policy(min_switch_s=60)
    assert policy.update(100, 12, 10, 0, OK_MV) == 0
    assert policy.update(200, 12, 0, 0, OK_MV) == CAUSE_CREDIT_OUT and not policy.closed
    assert policy.update(300, 12, 2500, 0, OK_MV) == CAUSE_CREDIT_BACK and policy.closed


def test_minimum_time_between_switchings():
    policy = _policy(min_switch_s=300)
    assert policy.update(100, 12, 0, 0, OK_MV) == 0        # 100 s after boot: too soon
    assert policy.update(300, 12, 0, 0, OK_MV) == CAUSE_CREDIT_OUT
    assert policy.update(310, 12, 900, 0, OK_MV) == 0      # credit back, but hold
    assert not policy.closed
    assert policy.update(600, 12, 900, 0, OK_MV) == CAUSE_CREDIT_BACK


def test_friendly_hours_delay_a_credit_cut_not_a_battery_cut():
    policy = _policy(friendly_start_h=18, friendly_end_h=6, min_switch_s=0)
    assert policy.update(100, 22, 0, 0, OK_MV) == 0 and policy.closed
    assert policy.update(200, 3, 0, 0, OK_MV) == 0 and policy.closed
    assert policy.update(300, 6, 0, 0, OK_MV) == CAUSE_CREDIT_OUT
    night = _policy(friendly_start_h=18, friendly_end_h=6, min_switch_s=0)
    assert night.update(100, 23, 100, 0, 21000) == CAUSE_BATTERY_LOW


def test_battery_hysteresis():
    policy = _policy(battery_cut_mv=22800, battery_restore_mv=24800, min_switch_s=0)
    assert policy.update(10, 12, 1000, 0, 22700) == CAUSE_BATTERY_LOW
    assert policy.update(20, 12, 1000, 0, 23500) == 0      # above the cut, below the restore
    assert policy.update(30, 12, 1000, 0, 24800) == CAUSE_BATTERY_OK and policy.closed
    assert policy.update(40, 12, 1000, 0, 23500) == 0      # stays closed inside the band


def test_remote_disconnect_and_low_credit_warning():
    policy = _policy(min_switch_s=0, low_credit_wh=2000)
    policy.remote_open = True
    assert policy.update(10, 12, 5000, 0, OK_MV) == CAUSE_REMOTE
    policy.remote_open = False
    assert policy.update(20, 12, 5000, 0, OK_MV) == CAUSE_REMOTE and policy.closed
    assert policy.low_credit(1999, 0) and not policy.low_credit(2000, 0) and not policy.low_credit(0, 1)




def test_a_metering_fault_opens_at_once_and_its_end_closes_with_the_same_cause():
    policy = _policy(min_switch_s=3600)
    assert policy.boot(0, 12, 5000, 0, OK_MV)
    policy.fault = True
    assert policy.update(1, 12, 5000, 0, OK_MV) == FAULT and not policy.closed  # no anti-chatter wait for a fault
    policy.fault = False
    assert policy.update(2, 12, 5000, 0, OK_MV) == 0  # closing waits for the minimum time, as ever
    assert policy.update(3601, 12, 5000, 0, OK_MV) == FAULT and policy.closed  # the event says what ended
