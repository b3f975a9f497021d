"""Load profile on real littlefs (MicroPython's VfsLfs2), power cut at every flash operation.

Each capture is cut at every program or erase it makes; after remounting, the
profile holds the rows before the capture, or those and the new row, in order,
and it goes on capturing. Also shows that real files give what the profile
expects of them (seek returning the position, readinto). MicroPython only.
"""

import gc

import vfs

from loadprofile import LoadProfile

from tests.firmware.fakeflash import FakeBlockDevice

_BLOCK = 512
_BLOCKS = 32
T0 = 852076800


def _mount(bdev):
    try:
        vfs.umount("/fl")
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(bdev, progsize=32, readsize=32, lookahead=32), "/fl")


def _boot():
    profile = LoadProfile("/fl/lp", 900, ("a", "b", "c"), 6, segment_rows=3)
    profile.load()
    return profile


def _row(n):
    return (T0 + 900 * n, 1000 * n, -n, 230000 + n)


def _rows(profile):
    return [profile.row(i) for i in range(profile.entries)]


def test_cut_at_every_flash_operation_of_a_capture():
    flash = FakeBlockDevice(_BLOCKS, _BLOCK)
    vfs.VfsLfs2.mkfs(flash, progsize=32, readsize=32, lookahead=32)
    _mount(flash)
    profile = _boot()
    done = []
    for n in range(1, 8):
        profile.capture(_row(n)[0], _row(n)[1:])
        done.append(_row(n))
    tried = 0
    for n in range(8, 12):  # appends, a new segment, a recycled one
        image = bytes(flash.data)
        start = flash.ops
        profile.capture(_row(n)[0], _row(n)[1:])
        for k in range(1, flash.ops - start + 1):
            gc.collect()
            cut = FakeBlockDevice(_BLOCKS, _BLOCK, image)
            _mount(cut)
            victim = _boot()
            assert _rows(victim) == done[-6:]
            cut.cut_at = cut.ops + k
            try:
                victim.capture(_row(n)[0], _row(n)[1:])
            except Exception:  # the cut, as littlefs reports it
                pass
            _mount(FakeBlockDevice(_BLOCKS, _BLOCK, cut.data))
            survivor = _boot()
            rows = _rows(survivor)
            assert rows in (done[-6:], (done + [_row(n)])[-6:]), (n, k, rows)
            survivor.capture(_row(n + 1)[0], _row(n + 1)[1:])  # and it goes on
            assert _rows(_boot()) == (rows + [_row(n + 1)])[-6:]
            tried += 1
            cut = survivor = victim = None
        done.append(_row(n))
        _mount(flash)
        profile = _boot()
        assert _rows(profile) == done[-6:]
    assert tried >= 8  # every capture programs flash (measured: 2 operations each here)
