"""CRC-16/MODBUS (reflected polynomial 0xA001, initial 0xFFFF, no final XOR).

Used by STS tokens (IEC 62055-41) and Modbus RTU frames. Works without slicing
or allocating, so it can run with the heap locked.
"""

CRC16_INIT = 0xFFFF


def crc16_update(crc: int, byte: int) -> int:
    """Feed one byte into a running CRC."""
    crc ^= byte
    for _ in range(8):
        if crc & 1:
            crc = (crc >> 1) ^ 0xA001
        else:
            crc >>= 1
    return crc


def crc16_modbus(data, start: int = 0, end: int = -1, crc: int = CRC16_INIT) -> int:
    """CRC of data[start:end] (end -1: to the end), continuing from crc."""
    if end < 0:
        end = len(data)
    for i in range(start, end):
        crc = crc16_update(crc, data[i])
    return crc
