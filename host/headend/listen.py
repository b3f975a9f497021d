"""The server meters push their event notifications to (`opsm headend listen`, issue 18).

A meter connects, sends one or more TCP-wrapper frames, each a DataNotification (notification.py), and closes;
nothing is answered. A frame is stored (store.store_push) only when:
- its wrapper ports are 1 -> 102;
- its meter is in the inventory: a ciphered one's system title is an inventory meter's
  (cosem_server.system_title of its serial), a plain one's serial is;
- a meter with keys (ek, ak in the credentials) sends ciphered only: a plain notification from it is a downgrade;
- the GCM tag verifies with that meter's keys, and the deciphered serial is that meter's;
- it is no replay: a ciphered one's invocation counter is above the last accepted from the meter, a plain one's
  event (its invoke id) was not stored before; both checked and stored in one transaction of the database, so a
  restarted listener, or two on one database, refuse them too.
A refused frame is logged (one line: the peer and the reason) and kept in push_refusals with its first bytes.

A hostile peer costs bounded time and memory: a frame is at most `max_apdu` bytes, a connection has `deadline_s`
seconds in all to send its frames and close (a peer that trickles bytes is dropped then), and at most
`max_connections` are open at once (one more is closed at once). A frame that cannot be decoded is refused, never
raised: the other connections go on. The store's connection lives in one worker thread, so a slow database holds
up the notifications, never the event loop.
"""

import asyncio
import concurrent.futures
import logging
import time

from opsm.protocol import events
from opsm.protocol.cosem_server import system_title

from opsm.host.headend import notification
from opsm.host.headend.notification import FramingError, NotificationError
from opsm.host.store import Store

log = logging.getLogger(__name__)

MAX_APDU = 512            # a ciphered notification with a 32-character serial is about 100 bytes
DEADLINE_S = 30.0         # one connection, all its frames: a meter sends them at once
MAX_CONNECTIONS = 200
FRAME_HEAD_BYTES = 64     # of a refused frame, kept in push_refusals
MAX_REASON_CHARS = 400


class Listener:
    """Receives, checks and stores the notifications of the inventory's meters (inventory.Meter) into the
    database at `db_url`; start() it, close() it."""

    def __init__(self, meters: list, db_url: str, max_apdu: int = MAX_APDU, deadline_s: float = DEADLINE_S,
                 max_connections: int = MAX_CONNECTIONS):
        self.by_serial = {meter.serial: meter for meter in meters}
        self.by_title: dict = {}
        for meter in meters:
            title = system_title(meter.serial)
            other = self.by_title.setdefault(title, meter)
            if other is not meter:  # the title keeps only the serial's digits
                raise ValueError("inventory: %s and %s have the same system title %s: a notification could not "
                                 "tell them apart" % (other.device_id, meter.device_id, title.hex().upper()))
        self.db_url = db_url
        self.max_apdu = max_apdu
        self.deadline_s = deadline_s
        self.max_connections = max_connections
        self._database = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="push-store")
        self._store = None
        self._server = None
        self._connections: set = set()

    async def start(self, host: str = "127.0.0.1", port: int = 4060) -> int:
        """Open the database (migrating it) and listen; the port bound (port 0: a free one)."""
        self._store = await self._in_store(Store.open, self.db_url)
        self._server = await asyncio.start_server(self._connection, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening, drop the connections still open, close the database."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
        if self._store is not None:
            await self._in_store(self._store.close)
        self._database.shutdown()

    async def _in_store(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._database, function, *args)

    async def _connection(self, reader, writer) -> None:
        address = writer.get_extra_info("peername")
        peer = "%s:%d" % address[:2] if address else "unknown peer"
        if len(self._connections) >= self.max_connections:
            log.warning("closed a connection from %s: %d connections open already", peer, self.max_connections)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        self._connections.add(task)
        pending = bytearray()  # the frame being read, for the refusal of one cut short
        try:
            try:
                await self._frames(reader, peer, pending, asyncio.get_running_loop().time() + self.deadline_s)
            except TimeoutError:
                await self._refuse(peer, "deadline %g s passed before the peer closed: dropped" % self.deadline_s,
                                   pending)
            except FramingError as exc:
                await self._refuse(peer, str(exc), pending)
        except ConnectionError:
            pass  # the peer is gone
        except Exception:  # a bug, or the database down: this connection ends, the others go on
            log.exception("notification from %s not handled", peer)
        finally:
            self._connections.discard(task)
            writer.transport.abort()  # nothing is ever answered: no need to wait for a flush

    async def _frames(self, reader, peer: str, pending: bytearray, ends_at: float) -> None:
        header_size = notification.WRAPPER_HEADER_SIZE
        while True:
            pending.clear()
            if not await _read(reader, pending, header_size, ends_at):
                if pending:
                    raise FramingError("connection closed inside a wrapper header (%d of %d bytes)"
                                       % (len(pending), header_size))
                return  # closed between frames: the meter is done
            header = notification.frame_header(bytes(pending), self.max_apdu)
            if not await _read(reader, pending, header_size + header.length, ends_at):
                raise FramingError("connection closed inside a frame (%d of %d bytes)"
                                   % (len(pending), header_size + header.length))
            await self._frame(peer, header, bytes(pending))

    async def _frame(self, peer: str, header, frame: bytes) -> None:
        received_at = int(time.time())
        try:
            notification.check_ports(header)
            meter, note = self._check(frame[notification.WRAPPER_HEADER_SIZE:])
        except NotificationError as exc:
            await self._refuse(peer, str(exc), frame)
            return
        refused = await self._in_store(self._store.store_push, meter.device_id, note, received_at, peer)
        if refused:
            await self._refuse(peer, "%s: %s" % (meter.device_id, refused), frame)
        else:
            log.info("%s of %s from %s", "test notification" if note.code == events.PUSH_TEST else
                     "stored event %d (code %d)" % (note.invoke_id, note.code), meter.device_id, peer)

    def _check(self, apdu: bytes) -> tuple:
        """(inventory meter, notification) of an APDU; NotificationError when either is refused."""
        title = notification.system_title(apdu)
        if title is None:
            note = notification.decode(apdu)
            meter = self.by_serial.get(note.serial)
            if meter is None:
                raise NotificationError("plain notification from serial %r, no inventory meter's" % note.serial)
            if "ek" in meter.credentials:
                raise NotificationError("plain notification from %s, which has keys: a downgrade" % meter.device_id)
            return meter, note
        meter = self.by_title.get(title)
        if meter is None:
            raise NotificationError("system title %s is no inventory meter's" % title.hex().upper())
        if "ek" not in meter.credentials:
            raise NotificationError("ciphered notification from %s, which has no keys in the credentials"
                                    % meter.device_id)
        note = notification.decode(apdu, meter.credentials["ek"], meter.credentials["ak"])
        if note.serial != meter.serial:
            raise NotificationError("serial %r ciphered under the system title of %s (serial %r)"
                                    % (note.serial, meter.device_id, meter.serial))
        return meter, note

    async def _refuse(self, peer: str, reason: str, frame) -> None:
        reason = " ".join(reason.splitlines())[:MAX_REASON_CHARS]  # one log line, however the reason was made
        log.warning("refused a notification from %s: %s", peer, reason)
        await self._in_store(self._store.refuse_push, peer, int(time.time()), reason,
                             bytes(frame[:FRAME_HEAD_BYTES]).hex())


async def _read(reader, pending: bytearray, size: int, ends_at: float) -> bool:
    """Read until `pending` holds `size` bytes, by the connection's deadline; False when the peer closed first."""
    async with asyncio.timeout_at(ends_at):
        while len(pending) < size:
            chunk = await reader.read(size - len(pending))
            if not chunk:
                return False
            pending += chunk
    return True
