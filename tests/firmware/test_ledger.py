"""Credit ledger: subsidy, purchased credit and the entity's advances (MicroPython and CPython)."""

from ledger import CREDIT_MAX_WH, Ledger, unpack_ledger


def test_consumption_order_subsidy_then_purchased():
    ledger = Ledger(purchased_wh=3000)
    ledger.new_month(2026 * 12 + 11, 2000)
    assert ledger.available_wh() == 5000
    assert ledger.consume(1500) == 0
    assert (ledger.subsidy_wh, ledger.purchased_wh) == (500, 3000)
    assert ledger.consume(1000) == 0
    assert (ledger.subsidy_wh, ledger.purchased_wh) == (0, 2500)
    assert ledger.consume(4000) == 1500  # beyond every pot (friendly hours): owed, not free
    assert ledger.available_wh() == 0 and ledger.owed_wh == 1500
    assert ledger.add(2000) == 1500 and ledger.purchased_wh == 500  # the next recharge repays it


def test_subsidy_resets_each_month_without_carry_over():
    ledger = Ledger()
    month = 2026 * 12 + 10
    assert ledger.new_month(month, 2000)
    ledger.consume(500)
    assert not ledger.new_month(month, 2000)  # same month: nothing refilled
    assert ledger.subsidy_wh == 1500
    assert ledger.new_month(month + 1, 2000)
    assert ledger.subsidy_wh == 2000  # not 3500: no carry-over


def test_an_advance_is_credit_now_and_the_next_recharge_repays_it_in_full():
    ledger = Ledger(purchased_wh=300)
    assert ledger.advance(5000, 1)
    assert ledger.available_wh() == 5300 and ledger.owed_wh == 5000
    ledger.consume(1200)  # used or not, the whole advance is owed
    assert ledger.add(25600) == 5000
    assert ledger.purchased_wh == 300 + 5000 - 1200 + 25600 - 5000 and ledger.owed_wh == 0
    assert ledger.add(1000) == 0  # one-shot: nothing more to repay until granted again


def test_a_recharge_smaller_than_the_advance_carries_the_rest_to_the_next():
    ledger = Ledger()
    ledger.advance(5000, 1)
    ledger.consume(5000)
    assert ledger.add(2000) == 2000 and ledger.purchased_wh == 0 and ledger.owed_wh == 3000
    assert ledger.add(4000) == 3000 and ledger.purchased_wh == 1000 and ledger.owed_wh == 0


def test_each_grant_applies_once_and_only_the_next_one():
    ledger = Ledger()
    assert ledger.advance(1000, 1)
    assert not ledger.advance(1000, 1)   # replayed after a power cut: already applied
    assert not ledger.advance(1000, 3)   # not the next grant
    assert not ledger.advance(1000, 0)   # a lost settings record counts from 0 again
    assert ledger.available_wh() == 1000 and ledger.owed_wh == 1000 and ledger.grants == 1
    wrapped = Ledger(grants=0xFFFF)
    assert wrapped.advance(100, 0) and wrapped.grants == 0


def test_overflow_and_integers_stay_small():
    ledger = Ledger(purchased_wh=CREDIT_MAX_WH - 10)
    assert not ledger.room_for(11)
    try:
        ledger.add(11)
        raise AssertionError("no overflow error")
    except ValueError as exc:
        assert "overflow" in str(exc)
    assert not ledger.advance(11, 1)  # an advance past the register is not granted (a boot replays it)
    assert ledger.purchased_wh == CREDIT_MAX_WH - 10 and ledger.grants == 0
    assert CREDIT_MAX_WH < 1 << 30


def test_pack_round_trip():
    ledger = Ledger(123456, 1, 2000, 2026 * 12 + 11, 700, 42)
    again = unpack_ledger(ledger.pack())
    assert again.pack() == ledger.pack()
    assert (again.purchased_wh, again.unlimited, again.subsidy_wh, again.subsidy_month,
            again.owed_wh, again.grants) == (123456, 1, 2000, 2026 * 12 + 11, 700, 42)


def test_a_record_of_the_standing_overdraft_firmware_keeps_what_was_used_as_owed():
    # 16 bytes: purchased 0, subsidy 0, 1200 Wh of the old emergency credit used
    old = bytes(4) + b"\x00" + bytes(4) + (2026 * 12).to_bytes(3, "big") + (1200).to_bytes(4, "big")
    ledger = unpack_ledger(old)
    assert ledger.owed_wh == 1200 and ledger.grants == 0 and ledger.available_wh() == 0
    assert ledger.add(5000) == 1200 and ledger.purchased_wh == 3800
    try:
        unpack_ledger(old[:15])
        raise AssertionError("a short record was read")
    except ValueError as exc:
        assert "16 or 18" in str(exc)
