"""The meter's COSEM objects, built from the register map, and their attributes on the wire.

Each object is (class id, version, logical name bytes, row): row is the REGISTERS, SETTINGS or
PROFILES row it comes from (registers.Register, Setting, Profile), the values of a communication
setup object, or None for the objects named here. Values come from the model the server is given
(the firmware's cosem_meter adapter, or a test double):
    snapshot() -> dict                 keys of REGISTERS and SETTINGS, plus "ldn", "firmware", "control_state",
                                       "low_credit_wh", "owed_wh", "token", "token_time", "token_status"
    clock() -> (utc_s, utc_offset_min)
    profile(n) -> rows of PROFILES[n]: .entries, .capacity, .row(i) -> (time_s, values...),
                  .range_index(from_s, to_s) -> (first, count), inclusive bounds
    counter_reserved() -> int; reserve_counter(upto)   the suite 0 invocation counter's persisted mark
    set_setting(row, value) -> bool    write SETTINGS[row]'s setting (False: the meter's rule refused it)
    push() -> bool                     the push setup's method 1: queue a test notification (False: push is off)
    image_transfer() -> image_transfer.ImageTransfer   the firmware image transfer object (IC 18), made at first use
Attribute writers return a data-access-result (0 success).
"""

from . import axdr, hdlc
from . import registers as M

SUCCESS = 0
HARDWARE_FAULT = 1
TEMPORARY_FAILURE = 2
READ_WRITE_DENIED = 3
OBJECT_UNDEFINED = 4
OBJECT_UNAVAILABLE = 11
TYPE_UNMATCHED = 12
SCOPE_OF_ACCESS_VIOLATED = 13
DATA_BLOCK_UNAVAILABLE = 14
LONG_GET_ABORTED = 15
NO_LONG_GET_IN_PROGRESS = 16
DATA_BLOCK_NUMBER_INVALID = 19
OTHER_REASON = 250

# The objects that hold no register of the map (theirs are in protocol/registers.py)
ASSOCIATION_OBIS = "0.0.40.0.0.255"
LDN_OBIS = "0.0.42.0.0.255"                  # COSEM logical device name
FIRMWARE_OBIS = "1.0.0.2.0.255"              # active firmware identifier
SECURITY_SETUP_OBIS = "0.0.43.0.1.255"
INVOCATION_COUNTER_OBIS = "0.0.43.1.1.255"   # readable by the public client, as suite 0 needs
CHARGE_OBIS = "0.0.19.20.0.255"
ACCOUNT_OBIS = "0.0.19.0.0.255"
TOKEN_GATEWAY_OBIS = "0.0.19.40.0.255"
HDLC_SETUP_OBIS = "0.0.22.0.0.255"
TCP_UDP_SETUP_OBIS = "0.0.25.0.0.255"
IPV4_SETUP_OBIS = "0.0.25.1.0.255"
IMAGE_TRANSFER = 18                          # interface class (not a register of the map, so not in registers.py)
IMAGE_TRANSFER_OBIS = "0.0.44.0.0.255"
SETUP_OBIS = {M.IEC_HDLC_SETUP: HDLC_SETUP_OBIS, M.TCP_UDP_SETUP: TCP_UDP_SETUP_OBIS}
# Types of attributes 2.. of the communication setup objects; their values are the port's own.
SETUP_TYPES = {
    # comm_speed, window tx, window rx, max info tx, max info rx, inter-octet ms, inactivity s, device address
    M.IEC_HDLC_SETUP: (axdr.ENUM, axdr.UNSIGNED, axdr.UNSIGNED, axdr.LONG_UNSIGNED, axdr.LONG_UNSIGNED,
                       axdr.LONG_UNSIGNED, axdr.LONG_UNSIGNED, axdr.LONG_UNSIGNED),
    # port, IP reference (the IPv4 setup's logical name), MSS, simultaneous connections, inactivity s
    M.TCP_UDP_SETUP: (axdr.LONG_UNSIGNED, axdr.OCTET_STRING, axdr.LONG_UNSIGNED, axdr.UNSIGNED, axdr.LONG_UNSIGNED),
}
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)  # comm_speed enum 0..9

# class id -> (version, attribute count, method count)
CLASSES = {M.DATA: (0, 2, 0), M.REGISTER: (0, 3, 1), M.PROFILE_GENERIC: (1, 8, 2), M.CLOCK: (0, 9, 6),
           M.ASSOCIATION_LN: (1, 9, 4), M.SECURITY_SETUP: (0, 5, 2), M.DISCONNECT_CONTROL: (0, 4, 2),
           M.ACCOUNT: (0, 19, 3), M.CREDIT: (0, 11, 3), M.CHARGE: (0, 13, 5), M.TOKEN_GATEWAY: (0, 6, 1),
           M.IEC_HDLC_SETUP: (1, 9, 0), M.TCP_UDP_SETUP: (0, 6, 0), M.PUSH_SETUP: (0, 7, 1),
           IMAGE_TRANSFER: (0, 7, 4)}

# Access for the object list and the server's checks: (class, attribute) written by an
# authenticated client; (class, method) it may invoke. The public client only reads.
WRITABLE = ((M.CLOCK, 2), (M.ASSOCIATION_LN, 7), (IMAGE_TRANSFER, 5))
METHODS = ((M.DISCONNECT_CONTROL, 1), (M.DISCONNECT_CONTROL, 2), (M.TOKEN_GATEWAY, 1), (M.ASSOCIATION_LN, 1),
           (M.SECURITY_SETUP, 2), (M.PUSH_SETUP, 1), (IMAGE_TRANSFER, 1), (IMAGE_TRANSFER, 2), (IMAGE_TRANSFER, 3),
           (IMAGE_TRANSFER, 4))
HLS_ONLY = ((M.ASSOCIATION_LN, 7), (M.SECURITY_SETUP, 2))  # the secret and key_transfer: ciphered HLS only
NOT_READABLE = ((M.ASSOCIATION_LN, 7),)  # the secret


def hdlc_setup(baud: int, inactivity_s: int = hdlc.LINK_TIMEOUT_MS // 1000, max_info: int = hdlc.LINK_MAX_INFO,
               address: int = 1, window: int = 1, inter_octet_ms: int = hdlc.OCTET_TIMEOUT_MS) -> tuple:
    """The IEC HDLC setup (class 23) of a port a ServerLink serves: what its SNRM/UA negotiation offers."""
    return (M.IEC_HDLC_SETUP, (BAUDS.index(baud), window, window, max_info, max_info, inter_octet_ms, inactivity_s,
                               address))


def tcp_udp_setup(port: int, inactivity_s: int, mss: int = 1460, connections: int = 1) -> tuple:
    """The TCP-UDP setup (class 41) of the TCP wrapper's port."""
    return (M.TCP_UDP_SETUP, (port, M.obis_bytes(IPV4_SETUP_OBIS), mss, connections, inactivity_s))


def build_objects(setups: tuple = ()) -> list:
    """Every object; setups: (class, values) of the ports the meter serves (hdlc_setup(), tcp_udp_setup())."""
    objects: list = [(M.ASSOCIATION_LN, ASSOCIATION_OBIS, None), (M.DATA, LDN_OBIS, None),
                     (M.DATA, FIRMWARE_OBIS, None), (M.CLOCK, M.CLOCK_OBIS, None),
                     (M.SECURITY_SETUP, SECURITY_SETUP_OBIS, None), (M.DATA, INVOCATION_COUNTER_OBIS, None),
                     (M.ACCOUNT, ACCOUNT_OBIS, None), (M.CHARGE, CHARGE_OBIS, None),
                     (M.TOKEN_GATEWAY, TOKEN_GATEWAY_OBIS, None), (M.PUSH_SETUP, M.PUSH_SETUP_OBIS, None),
                     (IMAGE_TRANSFER, IMAGE_TRANSFER_OBIS, None)]
    objects += [(row.class_id, row.obis, row) for row in M.REGISTERS]
    objects += [(M.DATA, row.obis, row) for row in M.SETTINGS if row.class_id == M.DATA]
    objects += [(M.PROFILE_GENERIC, row.obis, row) for row in M.PROFILES]
    objects += [(class_id, SETUP_OBIS[class_id], values) for class_id, values in setups]
    return [(class_id, CLASSES[class_id][0], M.obis_bytes(obis), row) for class_id, obis, row in objects]


def find(objects: list, class_id: int, ln) -> tuple | None:
    for obj in objects:
        if obj[2] == ln:
            return obj if obj[0] == class_id else None
    return None


# --- the values ---------------------------------------------------------------------------

def _unspecified_date_time(buf: bytearray) -> None:
    axdr.put(buf, axdr.OCTET_STRING, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff")


def put_date_time(buf: bytearray, utc_s: int, utc_offset_min: int) -> None:
    axdr.put(buf, axdr.OCTET_STRING, axdr.date_time(utc_s + utc_offset_min * 60, -utc_offset_min))


def _put_ln(buf: bytearray, obis: str) -> None:
    axdr.put(buf, axdr.OCTET_STRING, M.obis_bytes(obis))


def _put_capture_object(buf: bytearray, class_id: int, obis: str, attribute: int) -> None:
    axdr.put_header(buf, axdr.STRUCTURE, 4)
    axdr.put(buf, axdr.LONG_UNSIGNED, class_id)
    _put_ln(buf, obis)
    axdr.put(buf, axdr.INTEGER, attribute)
    axdr.put(buf, axdr.LONG_UNSIGNED, 0)


def profile_columns(profile) -> list:
    """(class, OBIS, attribute, A-XDR type or None for the clock) of each column of a profile."""
    columns: list = [(M.CLOCK, M.CLOCK_OBIS, 2, None)]
    for key in profile.columns:
        register = M.by_key(key)
        columns.append((register.class_id, register.obis, register.attribute, register.type))
    return columns


class RowStream:
    """Profile rows encoded on demand: a week of rows never sits whole in a board's RAM."""

    def __init__(self, source, first: int, count: int, columns: list, selected, offset_min: int):
        self.source = source
        self.next = first
        self.end = first + count
        self.columns = columns
        self.selected = selected
        self.offset_min = offset_min

    def done(self) -> bool:
        return self.next >= self.end

    def put(self, buf: bytearray, limit: int) -> None:
        """Append rows until buf holds at least `limit` bytes or no row is left."""
        columns = self.columns
        while self.next < self.end and len(buf) < limit:
            values = self.source.row(self.next)
            self.next += 1
            axdr.put_header(buf, axdr.STRUCTURE, len(self.selected))
            for c in self.selected:
                if c == 0:
                    put_date_time(buf, values[0], self.offset_min)
                else:
                    axdr.put(buf, columns[c][3], values[c])


def put_profile_rows(buf: bytearray, source, first: int, count: int, columns: list, selected,
                     offset_min: int) -> RowStream:
    """The buffer's array header; the rows follow from the returned stream."""
    axdr.put_header(buf, axdr.ARRAY, count)
    return RowStream(source, first, count, columns, selected, offset_min)


def _credit_status_bits(snapshot: dict) -> tuple:
    """Account current_credit_status: bit 0 in credit, 1 low credit, 6 out of credit (MSB first)."""
    credit = snapshot["credit_wh"]
    bits = 0x80 if credit > 0 else 0x02
    if 0 < credit <= snapshot["low_credit_wh"]:
        bits |= 0x40
    return 8, bytes((bits,))


def get_attribute(server, obj, attribute: int, buf: bytearray) -> int:
    """Encode the attribute into buf; returns a data-access-result."""
    class_id, _, ln, row = obj
    if attribute == 1:
        axdr.put(buf, axdr.OCTET_STRING, ln)
        return SUCCESS
    if (class_id, attribute) in NOT_READABLE or attribute > CLASSES[class_id][1]:
        return READ_WRITE_DENIED if attribute <= CLASSES[class_id][1] else OBJECT_UNDEFINED
    model = server.model
    if class_id == M.ASSOCIATION_LN:
        return server.association_attribute(attribute, buf)
    if class_id == M.SECURITY_SETUP:
        return server.security_attribute(attribute, buf)
    if class_id == M.CLOCK:
        return _clock(model, attribute, buf)
    if class_id == IMAGE_TRANSFER:
        return model.image_transfer().get_attribute(attribute, buf)
    if class_id in SETUP_TYPES:
        axdr.put(buf, SETUP_TYPES[class_id][attribute - 2], row[attribute - 2])
        return SUCCESS
    snapshot = server.snapshot()
    if row is not None and class_id in (M.DATA, M.REGISTER):  # a Register or a Setting
        if attribute == row.attribute:
            axdr.put(buf, row.type, snapshot[row.key])
        else:  # a Register's scaler_unit
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            axdr.put(buf, axdr.INTEGER, row.scaler)
            axdr.put(buf, axdr.ENUM, row.unit)
        return SUCCESS
    if class_id == M.DATA:
        name = bytes(ln)
        if name == M.obis_bytes(INVOCATION_COUNTER_OBIS):
            axdr.put(buf, axdr.DOUBLE_LONG_UNSIGNED, server.invocation_counter)
        else:
            axdr.put(buf, axdr.OCTET_STRING, snapshot["ldn" if name == M.obis_bytes(LDN_OBIS) else "firmware"])
        return SUCCESS
    if class_id == M.DISCONNECT_CONTROL:
        if attribute == 2:
            axdr.put(buf, axdr.BOOLEAN, snapshot["relay"])
        else:
            axdr.put(buf, axdr.ENUM, snapshot["control_state"] if attribute == 3 else 1)
        return SUCCESS
    if class_id == M.PROFILE_GENERIC:
        return _profile(server, row, attribute, buf)
    if class_id == M.PUSH_SETUP:
        return _push_setup(snapshot, attribute, buf)
    return _prepayment(class_id, attribute, snapshot, buf, model)


def _clock(model, attribute: int, buf: bytearray) -> int:
    utc_s, offset = model.clock()
    if attribute == 2:
        put_date_time(buf, utc_s, offset)
    elif attribute == 3:
        axdr.put(buf, axdr.LONG, -offset)  # minutes from local time to UTC
    elif attribute == 4:
        axdr.put(buf, axdr.UNSIGNED, 0)
    elif attribute in (5, 6):
        _unspecified_date_time(buf)
    elif attribute == 7:
        axdr.put(buf, axdr.INTEGER, 0)
    elif attribute == 8:
        axdr.put(buf, axdr.BOOLEAN, False)
    else:
        axdr.put(buf, axdr.ENUM, 1)  # internal crystal
    return SUCCESS


def _profile(server, row, attribute: int, buf: bytearray) -> int:
    source = server.model.profile(M.PROFILES.index(row))
    columns = profile_columns(row)
    if attribute == 2:
        server.rows = put_profile_rows(buf, source, 0, source.entries, columns, range(len(columns)),
                                       server.model.clock()[1])
    elif attribute == 3:
        axdr.put_header(buf, axdr.ARRAY, len(columns))
        for class_id, obis, attr, _ in columns:
            _put_capture_object(buf, class_id, obis, attr)
    elif attribute == 4:
        axdr.put(buf, axdr.DOUBLE_LONG_UNSIGNED, row.period_s)
    elif attribute == 5:
        axdr.put(buf, axdr.ENUM, 1)  # FIFO
    elif attribute == 6:
        _put_capture_object(buf, M.CLOCK, M.CLOCK_OBIS, 2)
    else:
        axdr.put(buf, axdr.DOUBLE_LONG_UNSIGNED, source.entries if attribute == 7 else source.capacity)
    return SUCCESS


# What a notification's body holds, in order (protocol/push.py): (class, OBIS, attribute, data_index).
# The event's time is the clock's; its payloads a and b are fields 3 and 4 of its event log record.
_PUSHED = ((M.DATA, M.by_key("serial").obis, 2, 0), (M.DATA, M.by_key("event_code").obis, 2, 0),
           (M.CLOCK, M.CLOCK_OBIS, 2, 0), (M.PROFILE_GENERIC, M.PROFILES[-1].obis, 2, 3),
           (M.PROFILE_GENERIC, M.PROFILES[-1].obis, 2, 4), (M.CREDIT, M.CREDIT_OBIS, 2, 0),
           (M.DISCONNECT_CONTROL, M.by_key("relay").obis, 2, 0))


def _push_setup(snapshot: dict, attribute: int, buf: bytearray) -> int:
    if attribute == 2:
        axdr.put_header(buf, axdr.ARRAY, len(_PUSHED))
        for class_id, obis, attr, index in _PUSHED:
            axdr.put_header(buf, axdr.STRUCTURE, 4)
            axdr.put(buf, axdr.LONG_UNSIGNED, class_id)
            _put_ln(buf, obis)
            axdr.put(buf, axdr.INTEGER, attr)
            axdr.put(buf, axdr.LONG_UNSIGNED, index)
    elif attribute == 3:  # TCP, "host:port", A-XDR
        axdr.put_header(buf, axdr.STRUCTURE, 3)
        axdr.put(buf, axdr.ENUM, 0)
        axdr.put(buf, axdr.OCTET_STRING, snapshot["push_to"])
        axdr.put(buf, axdr.ENUM, 0)
    elif attribute == 4:  # no communication window: any time
        axdr.put_header(buf, axdr.ARRAY, 0)
    elif attribute == 5:
        axdr.put(buf, axdr.LONG_UNSIGNED, 0)
    elif attribute == 6:
        axdr.put(buf, axdr.UNSIGNED, snapshot["push_retries"])
    else:
        axdr.put(buf, axdr.LONG_UNSIGNED, snapshot["push_delay_s"])
    return SUCCESS


def push_destination(value):
    """The "host:port" text of a send_destination_and_method written to the push setup, or None when it is
    not {TCP (0), ASCII octet-string, A-XDR (0)}: the meter's rule then judges the text."""
    if not isinstance(value, list) or len(value) != 3 or value[0] != 0 or value[2] != 0 or not isinstance(
            value[1], bytes):
        return None
    try:
        return value[1].decode()
    except UnicodeError:
        return None


def _prepayment(class_id: int, attribute: int, snapshot: dict, buf: bytearray, model) -> int:
    credit = snapshot["credit_wh"]
    put = axdr.put
    if class_id == M.ACCOUNT:
        if attribute == 2:  # account_mode_and_status: active (2), prepayment (2)
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            put(buf, axdr.ENUM, 2)
            put(buf, axdr.ENUM, 2)
        elif attribute == 3:
            put(buf, axdr.UNSIGNED, 1)
        elif attribute == 4:
            put(buf, axdr.BIT_STRING, _credit_status_bits(snapshot))
        elif attribute in (5, 6, 7, 8, 16, 17, 19):
            value = {5: credit, 6: snapshot["owed_wh"], 8: snapshot["owed_wh"], 16: snapshot["low_credit_wh"]}
            put(buf, axdr.DOUBLE_LONG, value.get(attribute, 0))
        elif attribute in (9, 10):
            axdr.put_header(buf, axdr.ARRAY, 1)
            _put_ln(buf, M.CREDIT_OBIS if attribute == 9 else CHARGE_OBIS)
        elif attribute == 11:
            axdr.put_header(buf, axdr.ARRAY, 1)
            axdr.put_header(buf, axdr.STRUCTURE, 3)
            _put_ln(buf, M.CREDIT_OBIS)
            _put_ln(buf, CHARGE_OBIS)
            put(buf, axdr.BIT_STRING, (3, b"\x80"))  # collect when supply disconnected
        elif attribute == 12:
            axdr.put_header(buf, axdr.ARRAY, 1)
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            _put_ln(buf, M.CREDIT_OBIS)
            put(buf, axdr.UNSIGNED, 100)  # every token goes to the token credit
        elif attribute in (13, 14):
            _unspecified_date_time(buf)
        elif attribute == 15:  # currency: the meter's credit is energy, counted in Wh
            axdr.put_header(buf, axdr.STRUCTURE, 3)
            put(buf, axdr.UTF8_STRING, "kWh")
            put(buf, axdr.INTEGER, -3)
            put(buf, axdr.ENUM, 1)  # consumption
        else:
            put(buf, axdr.LONG_UNSIGNED, 0)
    elif class_id == M.CREDIT:
        if attribute in (2, 5, 6, 9, 10):
            put(buf, axdr.DOUBLE_LONG, {2: credit, 5: snapshot["low_credit_wh"]}.get(attribute, 0))
        elif attribute in (3, 8):  # type token (0); status in use (3) or exhausted (4)
            put(buf, axdr.ENUM, 0 if attribute == 3 else (3 if credit > 0 else 4))
        elif attribute == 4:
            put(buf, axdr.UNSIGNED, 1)
        elif attribute == 7:
            put(buf, axdr.BIT_STRING, (5, b"\x08"))  # credit requires a token
        else:
            _unspecified_date_time(buf)
    elif class_id == M.CHARGE:
        if attribute in (2, 11, 12):
            put(buf, axdr.DOUBLE_LONG, snapshot["import_wh"] if attribute == 2 else 0)
        elif attribute == 3:
            put(buf, axdr.ENUM, 1)  # consumption based
        elif attribute == 4:
            put(buf, axdr.UNSIGNED, 1)
        elif attribute in (5, 6):  # 1 Wh of credit per Wh of +A
            axdr.put_header(buf, axdr.STRUCTURE, 3)
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            put(buf, axdr.INTEGER, 0)
            put(buf, axdr.INTEGER, 0)
            axdr.put_header(buf, axdr.STRUCTURE, 3)
            put(buf, axdr.LONG_UNSIGNED, M.REGISTER)
            _put_ln(buf, M.by_key("import_wh").obis)
            put(buf, axdr.INTEGER, 2)
            axdr.put_header(buf, axdr.ARRAY, 1)
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            put(buf, axdr.OCTET_STRING, b"\x00")
            put(buf, axdr.LONG, 1)
        elif attribute in (7, 10):
            _unspecified_date_time(buf)
        elif attribute == 8:
            put(buf, axdr.DOUBLE_LONG_UNSIGNED, 0)
        elif attribute == 9:
            put(buf, axdr.BIT_STRING, (2, b"\x00"))
        else:
            put(buf, axdr.LONG_UNSIGNED, 100)
    else:  # token gateway
        if attribute == 2:
            put(buf, axdr.OCTET_STRING, snapshot["token"])
        elif attribute == 3:
            if snapshot["token_time"]:
                put_date_time(buf, snapshot["token_time"], model.clock()[1])
            else:
                _unspecified_date_time(buf)
        elif attribute == 4:
            axdr.put_header(buf, axdr.ARRAY, 0)
        elif attribute == 5:
            put(buf, axdr.ENUM, 0)  # remote: the last token came over a port or the keypad
        else:
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            put(buf, axdr.ENUM, snapshot["token_status"])
            put(buf, axdr.BIT_STRING, (8, b"\x00"))
    return SUCCESS


def put_object_list(buf: bytearray, objects: list, authenticated: bool, ciphered: bool = False) -> None:
    """Association LN attribute 2: every object with this association's access rights."""
    axdr.put_header(buf, axdr.ARRAY, len(objects))
    for class_id, version, ln, _ in objects:
        _, attributes, methods = CLASSES[class_id]
        axdr.put_header(buf, axdr.STRUCTURE, 4)
        axdr.put(buf, axdr.LONG_UNSIGNED, class_id)
        axdr.put(buf, axdr.UNSIGNED, version)
        axdr.put(buf, axdr.OCTET_STRING, ln)
        axdr.put_header(buf, axdr.STRUCTURE, 2)
        axdr.put_header(buf, axdr.ARRAY, attributes)
        for a in range(1, attributes + 1):
            axdr.put_header(buf, axdr.STRUCTURE, 3)
            axdr.put(buf, axdr.INTEGER, a)
            writable = authenticated and ((class_id, a) in WRITABLE or M.setting_at(ln, a) >= 0) and (
                ciphered or (class_id, a) not in HLS_ONLY)
            if (class_id, a) in NOT_READABLE:
                mode = 2 if writable else 0
            else:
                mode = 3 if writable else 1
            axdr.put(buf, axdr.ENUM, mode)
            if class_id == M.PROFILE_GENERIC and a == 2:
                axdr.put_header(buf, axdr.ARRAY, 2)
                axdr.put(buf, axdr.INTEGER, 1)
                axdr.put(buf, axdr.INTEGER, 2)
            else:
                axdr.put(buf, axdr.NULL, None)
        axdr.put_header(buf, axdr.ARRAY, methods)
        for m in range(1, methods + 1):
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            axdr.put(buf, axdr.INTEGER, m)
            allowed = (class_id, m) in METHODS and (authenticated or class_id == M.ASSOCIATION_LN) and (
                ciphered or (class_id, m) not in HLS_ONLY)
            axdr.put(buf, axdr.ENUM, 1 if allowed else 0)
