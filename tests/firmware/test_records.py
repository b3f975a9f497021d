"""Power-safe records: A/B files and the raw-flash ring (MicroPython and CPython)."""

from records import RecordStore
from shadow import MirroredStore, RingRecordStore

from tests.firmware.fakeflash import FakeBlockDevice, FakeFlash, InjectedFault, PowerCut


def test_ab_records_keep_the_newest_good_one():
    flash = FakeFlash()
    store = RecordStore("/m/x", flash.open)
    assert store.load() is None
    for n in range(5):
        store.save(b"credit %d" % n)
    assert RecordStore("/m/x", flash.open).load() == b"credit 4"
    flash.arm(1, tear=True)
    try:
        store.save(b"credit 5")
    except InjectedFault:
        pass
    assert RecordStore("/m/x", flash.open).load() == b"credit 4"
    flash.files["/m/x.b"] = flash.files["/m/x.b"][:-1] + b"\x00"  # a flipped byte fails the CRC
    again = RecordStore("/m/x", flash.open)
    assert again.load() in (b"credit 4", b"credit 3")


def test_ring_spreads_wear_and_survives_cuts():
    bdev = FakeBlockDevice(8, 256)
    ring = RingRecordStore(bdev, 2, 4)
    assert ring.load() is None
    for n in range(40):
        ring.save(b"wh=%d" % n)
    assert RingRecordStore(bdev, 2, 4).load() == b"wh=39"
    assert bdev.erases[:2] == [0, 0] and bdev.erases[6:] == [0, 0]  # only its own blocks
    assert bdev.erases[2:6] == [10, 10, 10, 10]                   # evenly used
    for k in (1, 2):  # cut during the erase, then during the program
        bdev.cut_at = bdev.ops + k
        try:
            ring.save(b"wh=40")
        except PowerCut:
            pass
        reloaded = RingRecordStore(bdev, 2, 4)
        assert reloaded.load() in (b"wh=39", b"wh=40")
        ring = reloaded
    try:
        RingRecordStore(bdev, 0, 1)
        raise AssertionError("accepted a one-block ring")
    except ValueError as exc:
        assert "count" in str(exc)


def test_mirror_survives_a_reformatted_file_system():
    flash, bdev = FakeFlash(), FakeBlockDevice(8, 256)
    store = MirroredStore(RecordStore("/m/state", flash.open), RingRecordStore(bdev, 0, 4))
    for n in range(3):
        store.save(b"credit %d" % n)
    flash.files.clear()  # the port reformatted its file system
    again = MirroredStore(RecordStore("/m/state", flash.open), RingRecordStore(bdev, 0, 4))
    assert again.load() == b"credit 2"
    again.save(b"credit 3")
    third = MirroredStore(RecordStore("/m/state", flash.open), RingRecordStore(bdev, 0, 4))
    assert third.load() == b"credit 3" and third.primary.load() == b"credit 3"
