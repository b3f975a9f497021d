"""The optical port (UART): IEC 62056-21 mode C readout, and mode E into DLMS over HDLC.

A reader starts every dialogue with "/?!" in mode C. One that answers the "\\2" offer
with ACK 2 Z 2 gets an HDLC link to the meter's COSEM server until it disconnects or
goes quiet; the port then listens for a new "/?!". Nothing of the protocols is in the heap
before a probe speaks: the mode C session (and the register map) load with the first bytes,
HDLC with the first mode E switch, and `open_server()` makes the COSEM server then, so a meter
read only in mode C never loads the DLMS code.
"""

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython: the names below are for the type checker only
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from protocol import hdlc, iec62056_21


class OpticalPort:
    def __init__(self, identification: str, model, open_server):
        self.identification = identification
        self.model = model
        self.open_server = open_server
        self.server = None
        self._session: "iec62056_21.Session | None" = None  # made by the first bytes
        self._link: "hdlc.ServerLink | None" = None

    def _new_session(self):
        from protocol import iec62056_21

        model = self.model
        return iec62056_21.Session(self.identification, lambda: _readout(model), mode_e=True)

    @property
    def in_hdlc(self) -> bool:
        return self._link is not None

    def feed(self, data, now_ms: int) -> bytes:
        """Bytes from the probe -> bytes to send back."""
        link = self._link
        out = b""
        if link is None:
            session = self._session
            if session is None:
                session = self._session = self._new_session()
            out = session.feed(data)
            if not session.switched:
                return out
            from protocol import hdlc

            server = self.server
            if server is None:
                server = self.server = self.open_server()
            association = server.association()
            link = self._link = hdlc.ServerLink(association.handle, association.reset)
            data = session.leftover
        was_connected = link.connected
        out += link.receive(data, now_ms)
        if was_connected and not link.connected:  # DISC: the probe is done
            self._back_to_mode_c()
        return out

    def poll(self, now_ms: int) -> None:
        """Drop an HDLC link that went quiet (inactivity timeout)."""
        if self._link is not None and self._link.expired(now_ms):
            self._back_to_mode_c()

    def reset(self) -> None:
        """Forget the dialogue and any link (after a failure in the port's task): listen for a new "/?!"."""
        self._back_to_mode_c()

    def _back_to_mode_c(self) -> None:
        self._link = None
        self._session = None  # a new one with the next bytes


def _readout(model) -> list:
    """The mode C data sets. The register map (~9 KB of heap with its names) loads with the first readout,
    not with the port: a meter nobody reads optically does not hold it."""
    from protocol.registers import iec21_data_sets

    return iec21_data_sets(model.snapshot())
