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
