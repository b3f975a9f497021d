"""The optical port (UART): IEC 62056-21 mode C readout, and mode E into DLMS over HDLC.

A reader starts every dialogue with "/?!" in mode C. One that answers the "\\2" offer
with ACK 2 Z 2 gets an HDLC link to the meter's COSEM server until it disconnects or
goes quiet; the port then listens for a new "/?!". `open_server()` makes that server the
first time it is needed, so a meter read only in mode C never loads the DLMS code.
"""

from protocol import hdlc, iec62056_21
from protocol.registers import iec21_data_sets


class OpticalPort:
    def __init__(self, identification: str, model, open_server):
        self.identification = identification
        self.model = model
        self.open_server = open_server
        self.server = None
        self._session = self._new_session()
        self._link: hdlc.ServerLink | None = None
        self._association = None

    def _new_session(self):
        model = self.model
        return iec62056_21.Session(self.identification, lambda: iec21_data_sets(model.snapshot()), mode_e=True)

    @property
    def in_hdlc(self) -> bool:
        return self._link is not None

    def feed(self, data, now_ms: int) -> bytes:
        """Bytes from the probe -> bytes to send back."""
        link = self._link
        out = b""
        if link is None:
            out = self._session.feed(data)
            if not self._session.switched:
                return out
            server = self.server
            if server is None:
                server = self.server = self.open_server()
            association = server.association()
            self._association = association
            link = self._link = hdlc.ServerLink(association.handle, association.reset)
            data = self._session.leftover
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
        self._association = None
        self._session = self._new_session()
