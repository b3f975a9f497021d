"""The matrix scanner on an electrical fake of the 4x4 keypad: presses, bounce, hold, two keys."""


from keypad import DEFAULT_KEYMAP, Keypad

from tests.nogc import without_allocation


class FakeMatrix:
    """Rows record the level driven; a column reads 0 while a driven-low row has a key down in it.

    The callables allocate nothing, so the scanner can be run with the heap locked.
    """

    def __init__(self):
        self.row_level = [1, 1, 1, 1]
        self.down = bytearray(16)  # 1 per key held, row-major
        self.rows = [self._row(r) for r in range(4)]
        self.cols = [self._col(c) for c in range(4)]

    def _row(self, r):
        def drive(level):
            self.row_level[r] = level
        return drive

    def _col(self, c):
        def read():
            for r in range(4):
                if self.row_level[r] == 0 and self.down[r * 4 + c]:
                    return 0
            return 1
        return read

    def set(self, key, is_down):
        self.down[DEFAULT_KEYMAP.index(key)] = 1 if is_down else 0


def _scan(pad, n):
    """Keys reported in n scans."""
    out = []
    for _ in range(n):
        k = pad.scan()
        if k is not None:
            out.append(k)
    return out


def _tap(pad, matrix, key, bounce=0):
    """Press for 6 scans then release for 6; `bounce` flapping scans at each edge."""
    out = []
    for i in range(bounce):
        matrix.set(key, i % 2 == 0)
        out += _scan(pad, 1)
    matrix.set(key, True)
    out += _scan(pad, 6)
    for i in range(bounce):
        matrix.set(key, i % 2 == 1)
        out += _scan(pad, 1)
    matrix.set(key, False)
    out += _scan(pad, 6)
    return out


def test_every_key_is_reported_once_at_its_place():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols)
    for key in DEFAULT_KEYMAP:
        assert _tap(pad, m, key) == [key]
    assert m.row_level == [1, 1, 1, 1]  # rows left idle between scans


def test_press_is_accepted_after_debounce_scans():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols, debounce_scans=3)
    m.set("5", True)
    assert pad.scan() is None
    assert pad.scan() is None
    assert pad.scan() == "5"
    assert pad.scan() is None


def test_bouncing_contacts_give_one_press():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols)
    for bounce in (1, 2):
        assert _tap(pad, m, "7", bounce) == ["7"]
    # Sequence typed with bouncy contacts comes out intact.
    typed = []
    for key in "*12345678901234567890*":
        typed += _tap(pad, m, key, 2)
    assert "".join(typed) == "*12345678901234567890*"


def test_short_glitch_is_not_a_press():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols)
    m.set("8", True)
    assert _scan(pad, 2) == []  # down for 2 scans only: noise
    m.set("8", False)
    assert _scan(pad, 5) == []


def test_held_key_does_not_repeat():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols)
    m.set("#", True)
    assert _scan(pad, 500) == ["#"]
    m.set("#", False)
    assert _scan(pad, 5) == []
    m.set("#", True)
    assert _scan(pad, 5) == ["#"]


def test_second_key_while_first_held_is_ignored():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols)
    m.set("1", True)
    assert _scan(pad, 5) == ["1"]
    m.set("6", True)          # other row and column
    assert _scan(pad, 5) == []
    m.set("1", False)         # 6 still held: still ignored
    assert _scan(pad, 5) == []
    m.set("6", False)
    assert _scan(pad, 5) == []
    assert _tap(pad, m, "6") == ["6"]  # after a full release keys count again


def test_two_keys_at_once_report_nothing():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols)
    m.set("2", True)
    m.set("0", True)          # same column, other row
    assert _scan(pad, 10) == []
    m.set("2", False)
    m.set("0", False)
    assert _scan(pad, 5) == []
    assert _tap(pad, m, "D") == ["D"]


def test_custom_keymap_comes_from_the_board():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols, "DCBA#9630852*741")  # e.g. a keypad mounted upside down
    assert _tap(pad, m, "1") == ["D"]   # first position
    assert _tap(pad, m, "D") == ["1"]   # last position


def test_bad_arguments_are_refused():
    m = FakeMatrix()
    for keymap, scans in (("123", 3), (DEFAULT_KEYMAP, 0)):
        try:
            Keypad(m.rows, m.cols, keymap, scans)
            raised = False
        except ValueError:
            raised = True
        assert raised


def test_scan_allocates_nothing():
    m = FakeMatrix()
    pad = Keypad(m.rows, m.cols)
    seen = [None, None, None]

    def run():
        m.down[9] = 1  # row 2, column 1: "8"
        for _ in range(4):
            seen[0] = pad.scan() or seen[0]
        m.down[9] = 0
        for _ in range(4):
            seen[1] = pad.scan() or seen[1]
        m.down[15] = 1
        for _ in range(4):
            seen[2] = pad.scan() or seen[2]

    without_allocation(run)
    assert seen == ["8", None, "D"]
