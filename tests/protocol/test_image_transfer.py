"""DLMS image transfer (IC 18): transfers in any order, resume after a power cut at every flash write,
restart on another image, each refusal and its result code (runs on MicroPython too)."""

import hashlib

from records import RecordStore, decode_record

from protocol import axdr
from protocol import cosem_objects as O
from protocol import fw_image as F
from protocol import fw_manifest
from protocol import image_transfer as T
from tests.asserts import flipped
from tests.nogc import without_allocation
from tests.protocol.cosem_fake import RamStorage

KEY = bytes(range(32))
BLOCK = 128     # holds the 122-byte head: block 0 is judged on arrival
PAYLOAD = bytes((i * 7) & 0xFF for i in range(900))
IDENTIFIER = b"opsm-esp32-1.2.0"


def _image(board="esp32", version=(1, 2, 0), key=KEY, payload=PAYLOAD):
    manifest = fw_manifest.pack(F.Manifest(board, version, len(payload), hashlib.sha256(payload).digest(), 900000000,
                                           "600727000000000009"))
    return manifest + F.hmac_sha256(key, manifest) + payload


IMAGE = _image()                  # 1022 bytes: 7 blocks of 128 and a last one of 126
BLOCKS = -(-len(IMAGE) // BLOCK)


class PowerCut(Exception):
    """The supply went in the middle of a write: not an OSError, nothing in the meter answers it."""


class _File:
    def __init__(self, flash, path):
        self._flash = flash
        self._path = path
        self._pos = 0

    def seek(self, offset):
        self._pos = offset

    def read(self, n=-1):
        data = self._flash.files[self._path]
        end = len(data) if n < 0 else self._pos + n
        out = bytes(data[self._pos:end])
        self._pos += len(out)
        return out

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[0:len(data)] = data
        return len(data)

    def write(self, data):
        flash = self._flash
        flash.writes += 1
        if flash.writes == flash.fail_at:
            if not flash.cut:
                raise OSError(5, "write failed")
            data = data[:len(data) // 2]  # torn: half the bytes reached the flash
        file = flash.files[self._path]
        if len(file) < self._pos:
            file.extend(bytes(self._pos - len(file)))  # a seek past the end reads back as zeros
        file[self._pos:self._pos + len(data)] = data
        self._pos += len(data)
        if flash.writes == flash.fail_at:
            raise PowerCut()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Flash:
    """Files in memory with the modes the storage uses (rb, wb, r+b); the k-th write fails or is cut."""

    def __init__(self):
        self.files = {}
        self.writes = 0
        self.fail_at = 0
        self.cut = False

    def arm(self, after: int, cut: bool = True) -> None:
        self.fail_at = self.writes + after
        self.cut = cut

    def open(self, path, mode="rb"):
        if "w" in mode:
            self.files[path] = bytearray()
        elif path not in self.files:
            raise OSError(2, "no such file")
        return _File(self, path)


class Meter:
    """What the meter gives the object: its verifier and its activation (which notes the manifest)."""

    def __init__(self, board="esp32", running=(1, 1, 0), activation_works=True):
        self.board = board
        self.running = running
        self.works = activation_works
        self.activated = None

    def verifier(self, identifier=b""):
        return F.Verifier(KEY, self.board, self.running)

    def activate(self, manifest):
        self.activated = manifest
        if self.works is None:
            raise OSError(28, "no space left for the slot")
        return self.works


def _object(flash, meter=None, block=BLOCK, max_size=4096):
    meter = meter or Meter()
    storage = T.FileStorage("/fs/fw.img", RecordStore("/fs/fwstate", flash.open), flash.open)
    return T.ImageTransfer(storage, max_size, meter.verifier, meter.activate, block)


def _attribute(transfer, attribute):
    buf = bytearray()
    assert transfer.get_attribute(attribute, buf) == O.SUCCESS
    tag, value, end = axdr.get(buf)
    assert end == len(buf)
    return tag, value


def _present(transfer):
    """The block numbers attribute 3 reports, from the bit-string as a client reads it."""
    tag, bits = _attribute(transfer, 3)
    assert tag == axdr.BIT_STRING
    return [n for n in range(BLOCKS) if bits[n >> 3] & (0x80 >> (n & 7))]


def _send(transfer, numbers, image=IMAGE, block=BLOCK):
    for n in numbers:
        assert transfer.action(2, [n, image[n * block:(n + 1) * block]]) == O.SUCCESS, n


def test_a_whole_transfer_in_order_verifies_and_activates():
    meter = Meter()
    transfer = _object(Flash(), meter)
    assert _attribute(transfer, 6) == (axdr.ENUM, T.NOT_INITIATED) and _attribute(transfer, 7) == (axdr.ARRAY, [])
    assert transfer.action(1, [IDENTIFIER, len(IMAGE)]) == O.SUCCESS
    assert _attribute(transfer, 2) == (axdr.DOUBLE_LONG_UNSIGNED, BLOCK)
    assert _attribute(transfer, 5) == (axdr.BOOLEAN, True)
    assert _attribute(transfer, 6) == (axdr.ENUM, T.INITIATED)
    _send(transfer, range(BLOCKS))
    assert _present(transfer) == list(range(BLOCKS))
    assert _attribute(transfer, 4) == (axdr.DOUBLE_LONG_UNSIGNED, BLOCKS)  # none missing: the block count
    assert transfer.action(3, 0) == O.SUCCESS and transfer.status == T.VERIFIED and transfer.refusal == 0
    assert _attribute(transfer, 7) == (axdr.ARRAY, [[len(IMAGE), IDENTIFIER, IMAGE[F.MANIFEST_SIZE:F.HEADER_SIZE]]])
    assert transfer.action(4, 0) == O.SUCCESS and _attribute(transfer, 6) == (axdr.ENUM, T.ACTIVATED)
    assert meter.activated.version == (1, 2, 0) and meter.activated.payload_size == len(PAYLOAD)


def test_blocks_in_any_order_and_the_missing_ones_reported():
    transfer = _object(Flash())
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    _send(transfer, (7, 3, 0, 5))
    assert _present(transfer) == [0, 3, 5, 7]
    assert _attribute(transfer, 3)[1] == b"\x95"  # bit 0 first: 1001 0101
    assert _attribute(transfer, 4) == (axdr.DOUBLE_LONG_UNSIGNED, 1)
    assert transfer.action(3, 0) == O.TEMPORARY_FAILURE and transfer.status == T.INITIATED
    _send(transfer, (1, 2))
    assert _attribute(transfer, 4)[1] == 4
    _send(transfer, (6, 4, 4))  # a block sent twice (its reply lost) is taken again
    assert transfer.action(3, 0) == O.SUCCESS


def test_a_transfer_resumes_after_a_power_cut_at_any_write():
    # Writes: the state record at initiate, then per block its data and its record (a torn record
    # falls back to the previous one, records.py): cut each in turn, reboot, finish the transfer.
    order = [(n * 3) % BLOCKS for n in range(BLOCKS)]  # shuffled
    for k in range(1, 2 + 2 * BLOCKS):
        flash = Flash()
        flash.arm(k)
        transfer = _object(flash)
        done = 0
        try:
            transfer.action(1, [IDENTIFIER, len(IMAGE)])
            for n in order:
                _send(transfer, (n,))
                done += 1
            raise AssertionError("no cut at write %d" % k)
        except PowerCut:
            pass
        transfer = _object(flash)  # reboot: the object rebuilt from the same storage
        present = _present(transfer) if transfer.status == T.INITIATED else []
        assert transfer.status == (T.NOT_INITIATED if k == 1 else T.INITIATED), k
        assert present == sorted(order[:done]), k  # the block being written at the cut is missing
        assert _attribute(transfer, 4)[1] == min([n for n in range(BLOCKS) if n not in present] or [BLOCKS])
        assert transfer.action(1, [IDENTIFIER, len(IMAGE)]) == O.SUCCESS
        _send(transfer, [n for n in range(BLOCKS) if n not in present])
        assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.SUCCESS, k


def test_the_bitmap_survives_a_torn_write_of_its_record():
    flash = Flash()
    transfer = _object(flash)
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    _send(transfer, (0, 1))
    flash.arm(2)  # block 2: its data, then its record, torn half way
    try:
        _send(transfer, (2,))
        raise AssertionError("not cut")
    except PowerCut:
        pass
    # records: initiate to .a, block 0 to .b, block 1 to .a, block 2 to .b: torn, its data stored
    assert decode_record(flash.files["/fs/fwstate.b"]) is None and flash.files["/fs/fw.img"][256:384] == IMAGE[256:384]
    assert _present(_object(flash)) == [0, 1]


def test_initiating_the_same_image_resumes_another_restarts():
    flash = Flash()
    transfer = _object(flash)
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    _send(transfer, (0, 1, 2))
    assert transfer.action(1, [IDENTIFIER, len(IMAGE)]) == O.SUCCESS and _present(transfer) == [0, 1, 2]
    assert transfer.action(1, [b"opsm-esp32-1.3.0", len(IMAGE)]) == O.SUCCESS
    assert _present(transfer) == [] and _attribute(transfer, 4)[1] == 0
    _send(transfer, (0,))
    assert transfer.action(1, [b"opsm-esp32-1.3.0", len(IMAGE) - 1]) == O.SUCCESS  # another size: restart
    assert _present(transfer) == [] and _present(_object(flash)) == []
    verified = _object(Flash())
    verified.action(1, [IDENTIFIER, len(IMAGE)])
    _send(verified, range(BLOCKS))
    verified.action(3, 0)
    assert verified.action(1, [IDENTIFIER, len(IMAGE)]) == O.SUCCESS  # resumed, to be verified again
    assert verified.status == T.INITIATED and _attribute(verified, 7)[1] == []
    assert verified.action(4, 0) == O.TEMPORARY_FAILURE


def test_each_refusal_has_its_result_code():
    transfer = _object(Flash())
    assert transfer.action(2, [0, IMAGE[:BLOCK]]) == O.TEMPORARY_FAILURE  # not initiated
    assert transfer.action(3, 0) == O.TEMPORARY_FAILURE
    assert transfer.action(4, 0) == O.TEMPORARY_FAILURE
    assert transfer.action(1, [IDENTIFIER]) == O.TYPE_UNMATCHED
    assert transfer.action(1, [len(IMAGE), IDENTIFIER]) == O.TYPE_UNMATCHED
    assert transfer.action(1, None) == O.TYPE_UNMATCHED
    assert transfer.action(1, [IDENTIFIER, 0]) == O.OTHER_REASON
    assert transfer.action(1, [IDENTIFIER, 4097]) == O.OTHER_REASON  # over the slot
    assert transfer.action(1, [b"", 100]) == O.OTHER_REASON
    assert transfer.action(1, [bytes(T.MAX_IDENTIFIER + 1), 100]) == O.OTHER_REASON
    assert transfer.status == T.NOT_INITIATED
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    assert transfer.action(2, [1, IMAGE[BLOCK:2 * BLOCK - 1]]) == O.OTHER_REASON  # short, not the last
    assert transfer.action(2, [BLOCKS - 1, IMAGE[-BLOCK:]]) == O.OTHER_REASON     # the last one too long
    assert transfer.action(2, [BLOCKS, IMAGE[:2]]) == O.OTHER_REASON              # out of range
    assert transfer.action(2, [-1, IMAGE[:BLOCK]]) == O.OTHER_REASON
    assert transfer.action(2, [b"\x00", IMAGE[:BLOCK]]) == O.TYPE_UNMATCHED
    assert _present(transfer) == [] and transfer.status == T.INITIATED
    assert transfer.action(3, 0) == O.TEMPORARY_FAILURE                            # blocks missing
    _send(transfer, range(BLOCKS))
    assert transfer.action(4, 0) == O.TEMPORARY_FAILURE                            # not verified
    assert transfer.action(5, 0) == O.OBJECT_UNDEFINED
    assert transfer.get_attribute(8, bytearray()) == O.OBJECT_UNDEFINED
    assert transfer.set_attribute(6, 3) == O.READ_WRITE_DENIED
    assert transfer.set_attribute(5, 1) == O.TYPE_UNMATCHED
    assert transfer.set_attribute(5, False) == O.SUCCESS and _attribute(transfer, 5) == (axdr.BOOLEAN, False)
    for method in (1, 2, 3, 4):
        assert transfer.action(method, 0) == O.OBJECT_UNAVAILABLE                  # transfer disabled
    transfer.set_attribute(5, True)
    assert transfer.action(3, 0) == O.SUCCESS


def _refused_at_verify(image, block, meter=None):
    transfer = _object(Flash(), meter, block)
    transfer.action(1, [IDENTIFIER, len(image)])
    _send(transfer, range(-(-len(image) // block)), image, block)
    assert transfer.action(3, 0) == O.OTHER_REASON
    return transfer


def test_a_bad_image_fails_verification_and_is_dropped():
    transfer = _refused_at_verify(flipped(IMAGE, len(IMAGE) - 1), BLOCK)
    assert (transfer.status, F.NAMES[transfer.refusal]) == (T.VERIFY_FAILED, "BAD_PAYLOAD")
    assert _present(transfer) == [] and _attribute(transfer, 7)[1] == []
    assert transfer.action(4, 0) == O.TEMPORARY_FAILURE
    assert transfer.action(2, [1, IMAGE[BLOCK:2 * BLOCK]]) == O.TEMPORARY_FAILURE  # until initiated again
    assert transfer.action(1, [IDENTIFIER, len(IMAGE)]) == O.SUCCESS and _present(transfer) == []
    # blocks smaller than the head: nothing judged on arrival, all of it at image_verify
    assert F.NAMES[_refused_at_verify(_image(key=bytes(32)), 64).refusal] == "BAD_SIGNATURE"
    assert F.NAMES[_refused_at_verify(IMAGE, 64, Meter("pico")).refusal] == "WRONG_BOARD"
    assert F.NAMES[_refused_at_verify(IMAGE[:-1], 64).refusal] == "TRUNCATED"


def test_a_head_this_meter_refuses_is_refused_at_the_first_block():
    for image, meter, reason in ((_image(key=bytes(32)), Meter(), "BAD_SIGNATURE"),
                                 (IMAGE, Meter("pico"), "WRONG_BOARD"), (IMAGE, Meter(running=(1, 2, 0)), "SAME_VERSION")):
        transfer = _object(Flash(), meter)
        transfer.action(1, [IDENTIFIER, len(image)])
        _send(transfer, (3,))
        assert transfer.action(2, [0, image[:BLOCK]]) == O.OTHER_REASON
        assert (transfer.status, F.NAMES[transfer.refusal], _present(transfer)) == (T.VERIFY_FAILED, reason, [])
    flash = Flash()
    transfer = _object(flash, Meter("pico"))
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    _send(transfer, (3,))
    flash.arm(1, cut=False)  # the cleared bitmap cannot be saved: refused all the same
    assert transfer.action(2, [0, IMAGE[:BLOCK]]) == O.OTHER_REASON and transfer.status == T.VERIFY_FAILED
    assert _present(_object(flash)) == [3]  # after a reboot: refused again at its first block


def test_a_storage_error_is_a_hardware_fault_and_nothing_taken():
    flash = Flash()
    transfer = _object(flash)
    flash.arm(1, cut=False)  # an error, not a cut: the meter goes on
    assert transfer.action(1, [IDENTIFIER, len(IMAGE)]) == O.HARDWARE_FAULT and transfer.status == T.NOT_INITIATED
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    _send(transfer, range(BLOCKS - 1))
    for k in (1, 2):  # the block's data, then its record
        flash.arm(k, cut=False)
        assert transfer.action(2, [BLOCKS - 1, IMAGE[(BLOCKS - 1) * BLOCK:]]) == O.HARDWARE_FAULT
        assert _attribute(transfer, 4)[1] == BLOCKS - 1 and _present(_object(flash)) == list(range(BLOCKS - 1))
    _send(transfer, (BLOCKS - 1,))
    assert transfer.action(3, 0) == O.SUCCESS
    image = flash.files.pop("/fs/fw.img")  # the staged file gone from under the object
    assert transfer.action(3, 0) == O.HARDWARE_FAULT and transfer.status == T.INITIATED
    assert _attribute(transfer, 7)[1] == [] and transfer.action(4, 0) == O.TEMPORARY_FAILURE
    flash.files["/fs/fw.img"] = image
    assert transfer.action(3, 0) == O.SUCCESS


def test_a_failed_activation():
    meter = Meter(activation_works=False)
    transfer = _object(Flash(), meter)
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    _send(transfer, range(BLOCKS))
    assert transfer.action(3, 0) == O.SUCCESS
    assert transfer.action(4, 0) == O.OTHER_REASON and transfer.status == T.ACTIVATE_FAILED
    assert meter.activated is not None
    assert transfer.action(4, 0) == O.TEMPORARY_FAILURE  # verify again first
    assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.OTHER_REASON
    meter.works = None
    assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.OTHER_REASON
    assert transfer.status == T.ACTIVATE_FAILED


def test_a_record_of_another_layout_is_not_resumed():
    flash = Flash()
    transfer = _object(flash)
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    _send(transfer, (0,))
    assert _object(flash, block=64).status == T.NOT_INITIATED       # the meter's block size changed
    assert _object(flash, max_size=1000).status == T.NOT_INITIATED  # or its slot shrank
    assert _object(flash).status == T.INITIATED
    unreadable = RamStorage(len(IMAGE))
    unreadable.load = _unreadable
    assert T.ImageTransfer(unreadable, 4096, Meter().verifier, Meter().activate).status == T.NOT_INITIATED


def _unreadable():
    raise OSError(5, "read failed")


def test_a_block_allocates_nothing_in_the_object():
    meter = Meter()
    storage = RamStorage(len(IMAGE))
    transfer = T.ImageTransfer(storage, 4096, meter.verifier, meter.activate, BLOCK)
    transfer.action(1, [IDENTIFIER, len(IMAGE)])
    parameters = [[n, IMAGE[n * BLOCK:(n + 1) * BLOCK]] for n in range(BLOCKS)]
    transfer.action(2, parameters[0])  # block 0 makes a Verifier for the head

    def rest():
        for n in range(1, BLOCKS):
            if transfer.action(2, parameters[n]) != O.SUCCESS:
                return n
        return 0

    assert without_allocation(rest) == 0
    assert storage.image == bytearray(IMAGE) and transfer.action(3, 0) == O.SUCCESS
