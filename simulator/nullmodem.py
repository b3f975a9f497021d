"""Two serial port paths wired to each other, as a null-modem cable: two pseudo-terminal pairs and a thread
copying bytes between their masters. A program that opens a serial port by its path (pymodbus's RTU
server, a head-end's RTU client) gets one end, its peer the other."""

import contextlib
import os
import select
import threading
import tty


def _copy(a: int, b: int, stop: int) -> None:
    while True:
        ready, _, _ = select.select([a, b, stop], [], [], 5)
        if stop in ready:
            return
        for source in ready:
            try:
                data = os.read(source, 4096)
            except OSError:  # the far end closed: the cable is unplugged
                return
            os.write(b if source == a else a, data)


@contextlib.contextmanager
def null_modem():
    """(path of one end, path of the other), wired until the block ends."""
    (master_a, end_a), (master_b, end_b) = os.openpty(), os.openpty()
    for fd in (end_a, end_b):
        tty.setraw(fd)  # raw before any byte crosses: no echo, no line editing
    stop_r, stop_w = os.pipe()
    thread = threading.Thread(target=_copy, args=(master_a, master_b, stop_r), daemon=True)
    thread.start()
    try:
        yield os.ttyname(end_a), os.ttyname(end_b)
    finally:
        os.write(stop_w, b"x")
        thread.join(5)
        for fd in (master_a, end_a, master_b, end_b, stop_r, stop_w):
            os.close(fd)
