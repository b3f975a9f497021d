"""An in-memory flash for persistence tests: the k-th write fails, optionally torn.

`open` has the signature of the built-in, so it plugs into records.RecordStore.
Runs under MicroPython and CPython.
"""


class InjectedFault(OSError):
    pass


class _Reader:
    def __init__(self, data):
        self._data = data

    def read(self, size=-1):
        return self._data if size < 0 else self._data[:size]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Writer:
    def __init__(self, flash, path, append):
        self._flash = flash
        self._path = path
        if not append or path not in flash.files:
            flash.files[path] = b""  # opening for writing truncates, as on a file system

    def write(self, data):
        flash = self._flash
        flash.writes += 1
        before = flash.files[self._path]
        if flash.writes == flash.fail_at:
            if flash.tear:  # power lost half way: half the bytes reached the flash
                flash.files[self._path] = before + bytes(data[:len(data) // 2])
            raise InjectedFault("injected fault at write %d" % flash.writes)
        flash.files[self._path] = before + bytes(data)
        return len(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeFlash:
    def __init__(self):
        self.files = {}
        self.writes = 0
        self.fail_at = 0   # 0: never fail
        self.tear = False

    def arm(self, after_writes: int, tear: bool = False) -> None:
        """Fail the write that comes `after_writes` writes from now (1 = the next)."""
        self.fail_at = self.writes + after_writes
        self.tear = tear

    def open(self, path, mode="rb"):
        if "w" in mode or "a" in mode:
            return _Writer(self, path, "a" in mode)
        if path not in self.files:
            raise OSError(2, "no such file")
        return _Reader(self.files[path])


class PowerCut(Exception):
    pass


class FakeBlockDevice:
    """A block device (littlefs / rp2.Flash interface) whose k-th program or erase is cut
    half way: the bytes before the cut are written, the rest keep their old value."""

    def __init__(self, blocks: int, block_size: int = 512, image=None):
        self.block_size = block_size
        self.blocks = blocks
        self.data = bytearray(image) if image else bytearray(b"\xff" * (block_size * blocks))
        self.ops = 0
        self.cut_at = 0
        self.erases = [0] * blocks

    def _op(self):
        self.ops += 1
        return self.cut_at and self.ops == self.cut_at

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        for i in range(len(buf)):  # byte loop: littlefs may call this with the heap locked
            buf[i] = self.data[start + i]

    def writeblocks(self, block, buf, offset=None):
        start = block * self.block_size + (offset or 0)
        cut = self._op()
        n = len(buf) // 2 if cut else len(buf)
        for i in range(n):
            self.data[start + i] = buf[i]
        if cut:
            raise PowerCut()

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.block_size
        if op == 6:  # erase one block
            cut = self._op()
            self.erases[arg] += 1
            start = arg * self.block_size
            end = start + (self.block_size // 2 if cut else self.block_size)
            for i in range(start, end):
                self.data[i] = 0xFF
            if cut:
                raise PowerCut()
        return 0
