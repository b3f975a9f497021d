"""The virtual meter's flash as real files, with a power cut at a chosen write.

Only the simulator's scenarios inject power cuts, so this stays out of the virtual
board (whose RAM the soak counts as the firmware's).
"""


class PowerLost(BaseException):
    """The virtual board lost its supply in the middle of a flash write: no firmware code may catch it (as it
    catches Exception), so it ends whatever the meter was doing, as a power cut does."""


class _CutWriter:
    def __init__(self, flash, f):
        self._flash = flash
        self._f = f

    def write(self, data):
        flash = self._flash
        flash.writes += 1
        if flash.writes == flash.cut_at:
            self._f.write(bytes(data[:len(data) // 2]))  # half the bytes made it
            self._f.close()
            raise PowerLost()
        return self._f.write(data)

    def seek(self, offset):  # a staged firmware image takes its blocks at their offsets
        return self._f.seek(offset)

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()
        return False


class SimFlash:
    """The meter's storage as real files, with a power cut at a chosen write (cut_at)."""

    def __init__(self):
        self.writes = 0
        self.cut_at = 0  # 0: never

    def open(self, path, mode="r"):
        f = open(path, mode)
        if "w" in mode or "a" in mode or "+" in mode:
            return _CutWriter(self, f)
        return f
