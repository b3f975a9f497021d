"""`opsm fw push`: a signed image to one meter, or to every meter of an inventory, over DLMS image transfer (IC 18,
docs/firmware-update.md).

Initiate with an identifier of the image (its board, version and tag: another image restarts the
transfer), send only the blocks the meter's attribute 3 reports missing (so a broken link or a power cut
costs nothing already stored: pushing again resumes), verify, then activate. The meter judges the image
(its head at block 0, the payload's hash at verification); its refusal code stays in the meter, so a
refusal here names the status and what can cause it.

A fleet (push_fleet) goes through the harvester's links and associations (host/harvest.py: the inventory's
protocol, client and credentials), at most `concurrency` meters at a time; a meter whose link breaks is tried
again and resumes, one that fails never stops the others, and one already running the image's version is
skipped.
"""

import asyncio
import hashlib
import os
import time

from opsm.host import dlms, fwimage, harvest
from opsm.protocol import axdr
from opsm.protocol import cosem_objects as O
from opsm.protocol import fw_image as F
from opsm.protocol import image_transfer as T
from opsm.protocol import registers as M
from opsm.protocol.cosem_client import CosemError, run

_REFUSED = ("the meter refused the image: at block 0 its head (another meter's image or another entity's key, "
            "another board, or not newer than its firmware), at verify its payload (not what was signed)")
# A fleet push's outcome per meter; DONE ones need nothing more.
ACTIVATED, UP_TO_DATE, REFUSED, UNREACHABLE, FAILED, NO_IMAGE = ("activated", "up to date", "refused",
                                                                 "unreachable", "failed", "no image")
OUTCOMES = (ACTIVATED, UP_TO_DATE, REFUSED, UNREACHABLE, FAILED, NO_IMAGE)
DONE = (ACTIVATED, UP_TO_DATE)


_STALE_COUNTER = (" (HLS: perhaps an invocation counter the meter has seen; a push spends one per block, and the "
                  "counter from the time catches up a tenth of a second per block sent: try again then)")


class Refused(CosemError):
    """The meter verified the image and refused it: sending it again changes nothing."""


def identifier(image: bytes, allow_older: bool = False) -> bytes:
    """The image_identifier: board, version and the tag's first bytes (two signings never share it); with
    allow_older, the meter is asked to take it although it runs a newer version."""
    manifest = F.unpack_manifest(image)
    return ("%s-%s-%s" % (manifest.board, F.version_text(manifest.version),
                          image[F.MANIFEST_SIZE:F.MANIFEST_SIZE + 4].hex())).encode() + (
        T.ALLOW_OLDER if allow_older else b"")


def missing(bits: bytes, count: int) -> list:
    """The numbers of the `count` blocks that attribute 3's bit-string (its bytes) leaves clear."""
    return [n for n in range(count) if not bits[n >> 3] & (0x80 >> (n & 7))]


def _get(client, attribute: int):
    return (yield from client.get_steps(O.IMAGE_TRANSFER, O.IMAGE_TRANSFER_OBIS, attribute))


def _structure(*fields) -> tuple:
    """A method's parameter: a structure of (tag, value) fields, as _call encodes it."""
    return axdr.STRUCTURE, fields


def _call(client, method: int, parameter: tuple, what: str):
    tag, value = parameter
    data = bytearray()
    if tag == axdr.STRUCTURE:
        axdr.put_header(data, axdr.STRUCTURE, len(value))
        for field_tag, field in value:
            axdr.put(data, field_tag, field)
    else:
        axdr.put(data, tag, value)
    try:
        yield from client.action_steps(O.IMAGE_TRANSFER, O.IMAGE_TRANSFER_OBIS, method, bytes(data))
    except CosemError as exc:
        refused = yield from _verification_failed(client, exc.code)
        if refused:
            raise Refused("%s: %s (verification failed: %s)" % (what, exc, _REFUSED), exc.code) from None
        raise CosemError("%s: %s%s" % (what, exc, _why(exc.code)), exc.code) from None


def _why(code: int) -> str:
    if code == O.READ_WRITE_DENIED:
        return " (access denied: a management association, --password or --hls-keys, transfers images)"
    if code == O.OBJECT_UNAVAILABLE:
        return " (image transfer disabled on the meter: attribute 5)"
    return ""


def _verification_failed(client, code: int):
    if code != O.OTHER_REASON:
        return False
    try:
        return (yield from _get(client, 6)) == T.VERIFY_FAILED
    except CosemError:
        return False  # the refusal's own message says enough


def push_steps(client, image: bytes, progress=None, begun=None, allow_older: bool = False):
    """Transfer, verify and activate `image`, as client steps of an associated client: begun(blocks, to_send) once
    attribute 3 is read, progress(sent, to_send) after each block. Returns a summary once activation succeeded; a
    refusal is a CosemError that says why (Refused when the meter's verification refused the image)."""
    name = identifier(image, allow_older)  # not an image at all: refused here (ImageError), before the link is used
    block_size = yield from _get(client, 2)
    yield from _call(client, 1, _structure((axdr.OCTET_STRING, name), (axdr.DOUBLE_LONG_UNSIGNED, len(image))),
                     "initiate")
    blocks = -(-len(image) // block_size)
    todo = missing((yield from _get(client, 3)), blocks)
    if begun is not None:
        begun(blocks, len(todo))
    for sent, number in enumerate(todo, 1):
        block = image[number * block_size:(number + 1) * block_size]
        yield from _call(client, 2, _structure((axdr.DOUBLE_LONG_UNSIGNED, number), (axdr.OCTET_STRING, block)),
                         "block %d" % number)
        if progress is not None:
            progress(sent, len(todo))
    yield from _call(client, 3, (axdr.INTEGER, 0), "verify")
    yield from _call(client, 4, (axdr.INTEGER, 0), "activate")  # success: status 6; the meter restarts into it
    return {"identifier": name.decode(), "bytes": len(image), "blocks": blocks, "sent": len(todo),
            "status": "activated"}


def push(client, image: bytes, progress=None, allow_older: bool = False) -> dict:
    """push_steps over an associated CosemClient's own (blocking) exchange."""
    return run(push_steps(client, image, progress, allow_older=allow_older), client.exchange)


# --- a fleet --------------------------------------------------------------------------------

class Images:
    """The folder `opsm fw sign --inventory` writes: payload.bin once, SERIAL.head per meter."""

    def __init__(self, folder: str, allow_older: bool = False):
        self.allow_older = allow_older  # a downgrade asked for (identifier)
        if not os.path.isdir(folder):
            raise ValueError("--images: %s is not a folder (opsm fw sign --inventory --out FOLDER writes one)" % folder)
        path = os.path.join(folder, fwimage.PAYLOAD_FILE)
        try:
            with open(path, "rb") as f:
                self.payload = f.read()
        except OSError as exc:
            raise ValueError("--images: cannot read %s: %s (opsm fw sign --inventory writes it)"
                             % (path, exc.strerror)) from None
        self.folder = folder
        self.sha256 = hashlib.sha256(self.payload).digest()

    def image(self, serial: str) -> bytes:
        """The meter's image, its head then the payload; LookupError saying what is missing or does not fit."""
        name = serial + fwimage.HEAD_SUFFIX
        try:
            with open(os.path.join(self.folder, name), "rb") as f:
                head = f.read()
        except OSError as exc:
            raise LookupError("%s: %s in %s" % (name, exc.strerror, self.folder)) from None
        try:
            manifest = F.unpack_manifest(head)
        except F.ImageError as exc:
            raise LookupError("%s: not an image head: %s" % (name, fwimage.explain(exc))) from None
        if len(head) != F.HEADER_SIZE or (manifest.payload_size, manifest.payload_sha256) != (len(self.payload),
                                                                                             self.sha256):
            raise LookupError("%s: not signed for this folder's %s" % (name, fwimage.PAYLOAD_FILE))
        return head + self.payload


class _Push:
    """One meter's push as it goes: what the report says of it."""

    def __init__(self, meter, fleet: "_Fleet"):
        self.meter = meter
        self.fleet = fleet
        self.outcome = FAILED
        self.reason = ""
        self.blocks = 0
        self.sent = 0
        self.attempts = 0
        self.associated = False  # in the current attempt
        self.started = time.monotonic()

    def begun(self, blocks: int, _to_send: int) -> None:
        self.blocks = blocks

    def block_sent(self, _sent: int, _to_send: int) -> None:
        self.sent += 1
        self.fleet.block_sent()

    def end(self, outcome: str, reason: str = "") -> None:
        self.outcome, self.reason = outcome, reason

    def row(self) -> dict:
        return {"device_id": self.meter.device_id, "serial": self.meter.serial, "outcome": self.outcome,
                "blocks_sent": self.sent, "blocks": self.blocks, "attempts": self.attempts,
                "seconds": round(time.monotonic() - self.started, 2), "reason": self.reason}


def _meter_steps(client, image: bytes, state: _Push, allow_older: bool):
    """One attempt at a meter, as client steps: association, what it runs, then the transfer when needed."""
    yield from client.associate_steps()
    state.associated = True
    version = F.version_text(F.unpack_manifest(image).version)
    running = bytes((yield from client.get_steps(M.DATA, O.FIRMWARE_OBIS, 2)))
    if running.endswith(b" " + version.encode()):
        state.end(UP_TO_DATE, "the meter runs %s" % running.decode("ascii", "replace"))
    else:
        yield from push_steps(client, image, state.block_sent, state.begun, allow_older)
        state.end(ACTIVATED)
    yield from client.release_steps()  # after an activation the meter restarts: the link is gone, and that is fine


class _Fleet:
    def __init__(self, total: int, progress):
        self.total = total
        self.done = 0
        self.sent = 0
        self.progress = progress

    def block_sent(self) -> None:
        self.sent += 1
        self._report()

    def meter_done(self) -> None:
        self.done += 1
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.sent)


async def _push_meter(meter, images: Images, fleet: _Fleet, timeout: float, retries: int, backoff: float) -> dict:
    state = _Push(meter, fleet)
    try:
        image = images.image(meter.serial)
    except LookupError as exc:
        state.end(NO_IMAGE, str(exc))
        return state.row()
    if meter.protocol not in harvest.DLMS_PROTOCOLS:
        state.end(FAILED, "%s: no DLMS image transfer on this protocol" % meter.protocol)
        return state.row()
    counter = None
    for attempt in range(retries + 1):
        state.attempts = attempt + 1
        state.associated = False
        client = harvest.meter_client(meter, counter)
        try:
            await harvest.over_link(meter, _meter_steps(client, image, state, images.allow_older), timeout,
                                    harvest.Session())
            return state.row()
        except Refused as exc:
            state.end(REFUSED, str(exc))
            return state.row()
        except dlms.LimitError as exc:
            state.end(FAILED, str(exc))  # the meter would send the same again
            return state.row()
        except dlms.TransportError as exc:
            reason = str(exc)
        except CosemError as exc:  # refused association, access denied, activation failed: permanent
            if not state.associated or exc.code != O.HARDWARE_FAULT:  # its storage failed: the call may be repeated
                state.end(FAILED, str(exc) + (_STALE_COUNTER if client.keys and not state.associated else ""))
                return state.row()
            reason = str(exc)
        except (OSError, ValueError) as exc:  # a serial port's error, a garbled reply: the link's, as the harvester
            reason = "%s: %s" % (type(exc).__name__, exc)
        if state.outcome in DONE:
            return state.row()  # the link went in the release, after the work was done
        state.end(FAILED if state.associated else UNREACHABLE, reason)
        # HLS: the next association's invocation counter above every one this session spent (one per block)
        counter = max(dlms.growing_counter(), client.invocation_counter + 1)
        if attempt < retries:
            await asyncio.sleep(backoff * 2 ** attempt)
    return state.row()


def not_pushed(meter, reason: str) -> dict:
    """The outcome of a meter this host cannot push to (a head-end worker without its credentials): failed."""
    state = _Push(meter, None)
    state.end(FAILED, reason)
    return state.row()


async def _push_all(meters: list, images: Images, concurrency: int, progress, timeout: float, retries: int,
                    backoff: float) -> list:
    gate = asyncio.Semaphore(concurrency)
    fleet = _Fleet(len(meters), progress)

    async def one(meter) -> dict:
        async with gate:
            row = await _push_meter(meter, images, fleet, timeout, retries, backoff)
        fleet.meter_done()
        return row

    return list(await asyncio.gather(*[one(meter) for meter in meters]))


def push_fleet(meters: list, images_dir: str, concurrency: int = 50, progress=None, timeout: float = 10.0,
               retries: int = 2, backoff: float = 0.5, allow_older: bool = False) -> list:
    """Push each meter's image of `images_dir` (opsm fw sign --inventory) to the inventory's meters (inventory.load:
    their links and credentials), at most `concurrency` at a time; one outcome dict per meter, in their order:
    device_id, serial, outcome (OUTCOMES), blocks_sent, blocks, attempts, seconds, reason. progress(meters done,
    meters, blocks sent) after each block and each meter. A link error is tried again `retries` times (after
    backoff, doubling), resuming the transfer; a refusal is not. ValueError names the option for bad input."""
    if concurrency < 1:
        raise ValueError("--concurrency: must be at least 1, got %d" % concurrency)
    if retries < 0:
        raise ValueError("--retries: must be 0 or more, got %d" % retries)
    if not timeout > 0:
        raise ValueError("--timeout: must be more than 0 seconds, got %r" % timeout)
    images = Images(images_dir, allow_older)
    return asyncio.run(_push_all(meters, images, concurrency, progress, timeout, retries, backoff))


def summary(rows: list, seconds: float) -> dict:
    """Totals of a fleet push's outcomes, with the rows; ok when every meter is activated or up to date."""
    counts = {outcome.replace(" ", "_"): sum(row["outcome"] == outcome for row in rows) for outcome in OUTCOMES}
    return dict(counts, meters=len(rows), blocks_sent=sum(row["blocks_sent"] for row in rows),
                seconds=round(seconds, 2), ok=all(row["outcome"] in DONE for row in rows), results=rows)


def report_line(row: dict) -> str:
    """A meter's line of the report: serial, outcome, blocks sent of its image's, seconds, reason."""
    line = "%(serial)s %(outcome)s: %(blocks_sent)d/%(blocks)d blocks, %(seconds).2f s, %(attempts)d attempt(s)" % row
    return line + ("; " + row["reason"] if row["reason"] else "")
