"""DLMS image transfer (interface class 18), sans-IO: a signed firmware image arriving in blocks.

A client initiates a transfer (an identifier and a size), sends the blocks in any order, asks the
meter to verify the image, then to activate it (docs/firmware-update.md, "Image transfer (IC 18)").
Each block goes straight to its offset in the storage, and the bitmap of the blocks stored goes to
a power-safe record after each one: a transfer survives a broken link or a power cut. Rebuilt from
its storage at boot, the object reports the blocks still missing (attributes 3 and 4), and the
client, initiating again with the same identifier and size, sends only those.

The storage (FileStorage, or anything with the same four methods):
    write(offset, data)   the image's bytes at offset
    chunks(size)          the image's first `size` bytes, in pieces (verify and unpack read it back so)
    load()                the state record (bytes), or None
    save(state)           the state record, power-safely: a cut save leaves the previous one readable
State record: image size (4) | block size (2) | identifier length (1) | identifier | bitmap, bit n
(most significant bit first, as a DLMS bit-string) set once block n is stored. A block is written
before its bit is saved, so a cut between the two costs a resend, never a bit without its data.

Methods and attribute access return an action-result / data-access-result and never raise on what a
client sends; a storage OSError is a hardware-fault, after which the call may simply be repeated.
"""

from . import fw_image

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# image_transfer_status (attribute 6)
NOT_INITIATED = 0
INITIATED = 1
VERIFYING = 2
VERIFIED = 3
VERIFY_FAILED = 4
ACTIVATING = 5
ACTIVATED = 6
ACTIVATE_FAILED = 7

# action-result and data-access-result (IEC 62056-5-3): the numbers cosem_objects names (O.SUCCESS ...), for
# every other user; not imported from there: cosem_objects is where this object will be served from, and
# will import it. Private consts: the meter pays no names for them.
_SUCCESS = const(0)
_HARDWARE_FAULT = const(1)       # the storage failed (OSError)
_TEMPORARY_FAILURE = const(2)    # not in this state: nothing initiated, blocks missing, not verified
_READ_WRITE_DENIED = const(3)    # a set of a read-only attribute
_OBJECT_UNDEFINED = const(4)     # no such attribute or method
_OBJECT_UNAVAILABLE = const(11)  # image transfer disabled (attribute 5)
_TYPE_UNMATCHED = const(12)      # a parameter that is not the method's structure
_OTHER_REASON = const(250)       # refused: size, identifier, block number or length; verification or activation failed

MAX_IDENTIFIER = 64      # bytes of image_identifier kept in the record
# An identifier ending so asks the meter for an image older than the one it runs: a management client's explicit
# choice, the image still signed for the meter (opsm fw push --allow-older; the meter's verifier decides).
ALLOW_OLDER = b"+downgrade"
_HEAD = const(7)         # the state record's size, block size and identifier length
_READ_CHUNK = const(256)  # bytes an image is read back at a time (verify, unpack): a block a fragmented heap has


def _first_missing(state, bits: int, blocks: int) -> int:
    """The first of `blocks` whose bit is clear in a state record's bitmap (at `bits`), or `blocks` when all are set;
    counted when asked (attribute 4, image_verify: once a transfer each)."""
    number = 0
    while number < blocks and state[bits + (number >> 3)] & (0x80 >> (number & 7)):
        number += 1
    return number


class FileStorage:
    """The staged image in one file, the state in a power-safe record store (the firmware's
    records.RecordStore or MirroredStore, whose own load() and save(payload) it gives).
    opener: the file open function."""

    def __init__(self, path: str, record, opener=open):
        self._path = path
        self._open = opener
        self.load = record.load
        self.save = record.save

    def write(self, offset: int, data) -> None:
        try:
            f = self._open(self._path, "r+b")
        except OSError:  # no staged image yet (or lost with its file system): the block starts one
            f = self._open(self._path, "wb")
        with f:
            f.seek(offset)  # past the end is fine: blocks come in any order
            f.write(data)

    def chunks(self, size: int):
        """The image's first `size` bytes, _READ_CHUNK at a time, from one open of its file, each a view valid
        until the next: read into one buffer, so that 600 reads leave no holes in a fragmented heap."""
        view = memoryview(bytearray(_READ_CHUNK))
        with self._open(self._path, "rb") as f:
            for offset in range(0, size, _READ_CHUNK):
                got = f.readinto(view[0:min(_READ_CHUNK, size - offset)])
                yield view[0:got]


class ImageTransfer:
    """One image transfer object.

    max_size: the largest image the meter takes (its slot); block_size: fixed by the meter, so that a
    block fits its PDU; verifier(identifier): a new fw_image.Verifier with the meter's firmware key, board and
    running version, for the image initiated with that identifier (which may ask for a downgrade); activate(manifest) -> bool: switch to the verified image (the slots).
    After a failed verification `refusal` holds fw_image's reason, and refused(reason) is called (the
    event log), when given."""

    def __init__(self, storage, max_size: int, verifier, activate, block_size: int = 192, enabled: bool = True,
                 refused=None):
        self.storage = storage
        self.max_size = max_size
        self.block_size = block_size
        self.enabled = enabled
        self._verifier = verifier
        self._activate = activate
        self._refused = refused
        self.status = NOT_INITIATED
        self.refusal = 0
        self.manifest: fw_image.Manifest | None = None  # of the verified image
        self._state = bytearray()
        self._bits = 0      # where the bitmap starts in the state record
        self._image_size = 0
        self._blocks = 0
        try:
            state = storage.load()
        except OSError:
            state = None
        if state and self._use(bytearray(state)):
            self.status = INITIATED  # a verification does not outlive a reboot: the client asks again

    # --- attributes ---------------------------------------------------------------------

    def get_attribute(self, attribute: int, buf: bytearray) -> int:
        """Attributes 2-7 encoded into buf (the server answers attribute 1, the logical name)."""
        from . import axdr  # only the COSEM server reads attributes, and it has axdr loaded: no heap of its own

        if attribute in (2, 4):
            value = self.block_size if attribute == 2 else _first_missing(self._state, self._bits, self._blocks)
            axdr.put(buf, axdr.DOUBLE_LONG_UNSIGNED, value)
        elif attribute == 3:
            axdr.put(buf, axdr.BIT_STRING, (self._blocks, memoryview(self._state)[self._bits:]))
        elif attribute == 5:
            axdr.put(buf, axdr.BOOLEAN, self.enabled)
        elif attribute == 6:
            axdr.put(buf, axdr.ENUM, self.status)
        elif attribute == 7:
            manifest = self.manifest
            axdr.put_header(buf, axdr.ARRAY, 0 if manifest is None else 1)
            if manifest is not None:
                axdr.put_header(buf, axdr.STRUCTURE, 3)
                axdr.put(buf, axdr.DOUBLE_LONG_UNSIGNED, self._image_size)
                axdr.put(buf, axdr.OCTET_STRING, self.identifier())
                axdr.put(buf, axdr.OCTET_STRING, manifest.tag)
        else:
            return _OBJECT_UNDEFINED
        return _SUCCESS

    def set_attribute(self, attribute: int, value) -> int:
        """Only image_transfer_enabled (5) is written; keeping it over a reboot is the meter's choice."""
        if not 2 <= attribute <= 7:
            return _OBJECT_UNDEFINED
        if attribute != 5:
            return _READ_WRITE_DENIED
        if not isinstance(value, bool):
            return _TYPE_UNMATCHED
        self.enabled = value
        return _SUCCESS

    # --- methods -----------------------------------------------------------------------

    def action(self, method: int, parameter) -> int:
        """Methods 1 image_transfer_initiate, 2 image_block_transfer, 3 image_verify, 4 image_activate."""
        if not 1 <= method <= 4:
            return _OBJECT_UNDEFINED
        if not self.enabled:
            return _OBJECT_UNAVAILABLE
        try:
            if method == 1:
                return self._initiate(parameter)
            if method == 2:
                return self._block(parameter)
        except OSError:
            return _HARDWARE_FAULT
        if method == 3:
            return self._verify()
        if self.status != VERIFIED:  # image_activate
            return _TEMPORARY_FAILURE
        self.status = ACTIVATING
        try:
            done = self._activate(self.manifest)
        except OSError:
            done = False
        self.status = ACTIVATED if done else ACTIVATE_FAILED
        return _SUCCESS if done else _OTHER_REASON

    def _initiate(self, parameter) -> int:
        if not (isinstance(parameter, list) and len(parameter) == 2 and isinstance(parameter[0], bytes)
                and isinstance(parameter[1], int)):
            return _TYPE_UNMATCHED
        identifier, size = parameter
        if not 0 < size <= self.max_size or not 0 < len(identifier) <= MAX_IDENTIFIER:
            return _OTHER_REASON
        if size != self._image_size or identifier != self.identifier():
            blocks = -(-size // self.block_size)
            state = bytearray(_HEAD + len(identifier) + (blocks + 7) // 8)
            state[0:4] = size.to_bytes(4, "big")
            state[4:6] = self.block_size.to_bytes(2, "big")
            state[6] = len(identifier)
            state[_HEAD:_HEAD + len(identifier)] = identifier
            self.storage.save(state)  # first: a block stored after it never counts for the old image
            self._use(state)
        self.status = INITIATED
        self.manifest = None
        return _SUCCESS

    def _block(self, parameter) -> int:
        if not (isinstance(parameter, list) and len(parameter) == 2 and isinstance(parameter[0], int)
                and isinstance(parameter[1], bytes)):
            return _TYPE_UNMATCHED
        if self.status != INITIATED:
            return _TEMPORARY_FAILURE
        number, data = parameter
        if not 0 <= number < self._blocks:
            return _OTHER_REASON
        offset = number * self.block_size
        if len(data) != min(self.block_size, self._image_size - offset):
            return _OTHER_REASON
        if number == 0 and len(data) >= fw_image.HEADER_SIZE:
            try:  # the head judged now: an image this meter would refuse costs one block, not the whole link
                self._verifier(self.identifier()).feed(data)
            except fw_image.ImageError as e:
                return self._refuse(e.reason)
        self.storage.write(offset, data)
        state = self._state
        i = self._bits + (number >> 3)
        mask = 0x80 >> (number & 7)
        if not state[i] & mask:
            state[i] |= mask
            try:
                self.storage.save(state)
            except OSError:
                state[i] ^= mask
                raise
        return _SUCCESS

    def _verify(self) -> int:
        if not self._state or _first_missing(self._state, self._bits, self._blocks) < self._blocks:
            return _TEMPORARY_FAILURE
        self.status = VERIFYING
        self.manifest = None
        size = self._image_size
        verifier = self._verifier(self.identifier())
        try:
            for chunk in self.storage.chunks(size):
                verifier.feed(chunk)
            manifest = verifier.finish()
        except fw_image.ImageError as e:
            return self._refuse(e.reason)
        except OSError:
            self.status = INITIATED
            return _HARDWARE_FAULT
        self.manifest = manifest
        self.refusal = 0
        self.status = VERIFIED
        return _SUCCESS

    # --- state -------------------------------------------------------------------------

    def _refuse(self, reason: int) -> int:
        """A refused image is dropped: its blocks are forgotten, so initiating it again starts afresh."""
        self.status = VERIFY_FAILED
        self.refusal = reason
        self.manifest = None
        state = self._state
        for i in range(self._bits, len(state)):
            state[i] = 0
        try:
            self.storage.save(state)
            if self._refused is not None:
                self._refused(reason)
        except OSError:
            pass  # refused all the same: a bitmap left in flash only has the image refused again
        return _OTHER_REASON

    def identifier(self) -> bytes:
        """The image_identifier the transfer was initiated with."""
        return bytes(self._state[_HEAD:self._bits])

    def _use(self, state: bytearray) -> bool:
        """Take a state record as the transfer's, if this meter wrote it with its current block size and slot;
        False, taking nothing, for another layout (a record the meter ignores)."""
        if len(state) < _HEAD:
            return False
        size = int.from_bytes(state[0:4], "big")
        blocks = -(-size // self.block_size)
        if not (0 < size <= self.max_size and int.from_bytes(state[4:6], "big") == self.block_size
                and len(state) == _HEAD + state[6] + (blocks + 7) // 8):
            return False
        self._state = state
        self._bits = _HEAD + state[6]
        self._image_size = size
        self._blocks = blocks
        return True
