"""Matrix keypad scanner: turns row/column pin levels into debounced key presses.

The board module hands over plain callables, so the same code runs on real pins
and on a fake matrix in tests: rows[i](level) drives row i (0 = active), cols[j]()
reads column j (1 idle through a pull-up, 0 when a key of the driven row is down).
Drive the rows open-drain (or put diodes in the rows): with push-pull outputs two
keys down in one column short a low row to a high one.

Call scan() every ~10 ms. A change of the keys seen is accepted only once the
same picture has been read debounce_scans times in a row, so contact bounce
(levels flapping for a scan or two) never makes a press or a release. A press is
reported once, on the edge from "no key" to "exactly one key": holding a key
does not repeat it, a second key pressed while the first is held is ignored, and
so is every key until all are released (this also hides the phantom key a
matrix without diodes shows when three keys are down). scan() allocates nothing.
"""

DEFAULT_KEYMAP = "123A456B789C*0#D"  # row-major, row 0 at the top


class Keypad:
    def __init__(self, rows, cols, keymap: str = DEFAULT_KEYMAP, debounce_scans: int = 3):
        if len(keymap) != len(rows) * len(cols):
            raise ValueError("keymap: one character per key, rows x cols")
        if len(keymap) > 30:
            raise ValueError("keymap: at most 30 keys (a bit each in a small int)")
        if debounce_scans < 1:
            raise ValueError("debounce_scans: at least 1")
        self._rows = rows
        self._cols = cols
        # One str object per key, made here: indexing a str in scan() would allocate.
        self._keys = tuple(keymap)
        self._debounce = debounce_scans
        self._candidate = 0  # bit r*cols+c set for each key seen down in the last scans
        self._count = 0      # scans in a row that saw `_candidate`
        self._stable = 0     # the accepted picture
        for row in rows:
            row(1)

    def scan(self):
        """One pass over the matrix; the key character on a press edge, else None."""
        seen = 0
        bit = 1
        for row in self._rows:
            row(0)
            for col in self._cols:
                if not col():
                    seen |= bit
                bit <<= 1
            row(1)
        if seen != self._candidate:
            self._candidate = seen
            self._count = 1
        elif self._count < self._debounce:
            self._count += 1
        if self._count < self._debounce or seen == self._stable:
            return None
        was = self._stable
        self._stable = seen
        if was or not seen or seen & (seen - 1):
            return None  # a release, or more than one key: nothing to report
        index = 0
        while seen > 1:
            seen >>= 1
            index += 1
        return self._keys[index]
