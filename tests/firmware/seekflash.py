"""FakeFlash whose files also read like real ones: seek, readinto, reads that move on.

FakeFlash's reader returns the file from its start on every read, which is all the
records and the event log need; the load profile reads single records at a
position. Writes, the k-th write failing and torn writes are FakeFlash's.
`bytes_read` counts what the code under test read, to show it never reads a whole file.
"""

from tests.firmware.fakeflash import FakeFlash


class _SeekReader:
    def __init__(self, flash, data):
        self._flash = flash
        self._data = data
        self._pos = 0

    def seek(self, offset, whence=0):
        self._pos = offset + (self._pos if whence == 1 else len(self._data) if whence == 2 else 0)
        return self._pos

    def read(self, size=-1):
        end = len(self._data) if size < 0 else min(len(self._data), self._pos + size)
        data = self._data[self._pos:end]
        self._pos = max(self._pos, end)
        self._flash.bytes_read += len(data)
        return data

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[0:len(data)] = data
        return len(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class SeekFlash(FakeFlash):
    def __init__(self):
        super().__init__()
        self.bytes_read = 0

    def open(self, path, mode="rb"):
        if "w" in mode or "a" in mode:
            return FakeFlash.open(self, path, mode)
        if path not in self.files:
            raise OSError(2, "no such file")
        return _SeekReader(self, self.files[path])
