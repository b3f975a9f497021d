"""Credit ledger: subsidy, purchased and emergency credit (MicroPython and CPython)."""

from ledger import CREDIT_MAX_WH, Ledger, unpack_ledger

LIMIT = 5000  # emergency credit the entity advances (CREDITO), Wh


def test_consumption_order_subsidy_purchased_emergency():
    ledger = Ledger(purchased_wh=3000)
    ledger.new_month(2026 * 12 + 11, 2000)
    assert ledger.available_wh(LIMIT) == 10000
    assert ledger.consume(1500, LIMIT) == 0
    assert (ledger.subsidy_wh, ledger.purchased_wh, ledger.emergency_used_wh) == (500, 3000, 0)
    assert ledger.consume(1000, LIMIT) == 0
    assert (ledger.subsidy_wh, ledger.purchased_wh, ledger.emergency_used_wh) == (0, 2500, 0)
    assert ledger.consume(4000, LIMIT) == 0
    assert (ledger.purchased_wh, ledger.emergency_used_wh) == (0, 1500)
    assert ledger.consume(4000, LIMIT) == 500  # beyond every pot
    assert ledger.available_wh(LIMIT) == 0 and ledger.emergency_used_wh == LIMIT


def test_subsidy_resets_each_month_without_carry_over():
    ledger = Ledger()
    month = 2026 * 12 + 10
    assert ledger.new_month(month, 2000)
    ledger.consume(500, 0)
    assert not ledger.new_month(month, 2000)  # same month: nothing refilled
    assert ledger.subsidy_wh == 1500
    assert ledger.new_month(month + 1, 2000)
    assert ledger.subsidy_wh == 2000  # not 3500: no carry-over


def test_recharge_repays_emergency_credit_first():
    ledger = Ledger()
    ledger.consume(1200, LIMIT)
    assert ledger.emergency_used_wh == 1200
    assert ledger.add(1000) == 1000 and ledger.purchased_wh == 0 and ledger.emergency_used_wh == 200
    assert ledger.add(5000) == 200 and ledger.purchased_wh == 4800 and ledger.emergency_used_wh == 0


def test_overflow_and_integers_stay_small():
    ledger = Ledger(purchased_wh=CREDIT_MAX_WH - 10)
    assert not ledger.room_for(11)
    try:
        ledger.add(11)
        raise AssertionError("no overflow error")
    except ValueError as exc:
        assert "overflow" in str(exc)
    assert ledger.purchased_wh == CREDIT_MAX_WH - 10
    assert CREDIT_MAX_WH < 1 << 30


def test_pack_round_trip():
    ledger = Ledger(123456, 1, 2000, 2026 * 12 + 11, 700)
    again = unpack_ledger(ledger.pack())
    assert again.pack() == ledger.pack()
    assert (again.purchased_wh, again.unlimited, again.subsidy_wh, again.subsidy_month,
            again.emergency_used_wh) == (123456, 1, 2000, 2026 * 12 + 11, 700)
