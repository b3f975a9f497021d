"""The boot selector on real files (bootslot.py): which slot boots, trials counted before each boot, given up
after MAX_TRIAL_BOOTS, confirmed; torn or garbage files never choose a slot."""

import os

import bootslot

_n = [0]


def _root():
    _n[0] += 1
    root = "/tmp/opsm-bootslot-%d-%d/" % (os.getpid() if hasattr(os, "getpid") else 0, _n[0])
    try:
        os.mkdir(root[:-1])
    except OSError:
        for name in os.listdir(root):
            os.remove(root + name)
    return root


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_a_meter_as_deployed_boots_slot_a_at_the_factory_version():
    root = _root()
    assert bootslot.select(root) == "a" and bootslot.running(root) == "a"
    assert bootslot.folder(root, "a") == root + "lib" and bootslot.version(root) == bootslot.FACTORY_VERSION


def test_a_trial_is_counted_before_each_boot_and_given_up_once():
    root = _root()
    bootslot.start_trial(root, "b")
    for boots in range(1, bootslot.MAX_TRIAL_BOOTS + 1):
        assert bootslot.select(root) == "b" and bootslot.trial(root) == ("b", boots)
        assert bootslot.running(root) == "b"
    assert bootslot.select(root) == "a" and bootslot.trial(root) is None and bootslot.running(root) == "a"
    assert bootslot.take_rollback(root) == ("b", bootslot.MAX_TRIAL_BOOTS)
    assert bootslot.take_rollback(root) is None  # logged once


def test_a_confirmed_slot_boots_from_then_on_with_its_version():
    root = _root()
    bootslot.start_trial(root, "b")
    bootslot.select(root)
    os.mkdir(root + "lib_b")
    _write(root + "lib_b/" + bootslot.VERSION_FILE, "1.4.2")
    assert bootslot.version(root) == (1, 4, 2)
    bootslot.confirm(root)
    assert bootslot.active(root) == "b" and bootslot.trial(root) is None
    for _ in range(5):
        assert bootslot.select(root) == "b"
    assert bootslot.version(root) == (1, 4, 2)
    os.remove(root + "lib_b/" + bootslot.VERSION_FILE)
    os.rmdir(root + "lib_b")


def test_a_confirm_cut_before_it_removed_the_trial_is_finished_at_boot():
    root = _root()
    _write(root + bootslot.ACTIVE, "b")
    _write(root + bootslot.TRIAL, "b 3")  # the power went between the two steps of confirm()
    assert bootslot.select(root) == "b" and bootslot.trial(root) is None
    assert bootslot.take_rollback(root) is None


def test_garbage_in_the_files_never_chooses_a_slot():
    root = _root()
    for text in ("", "c 0", "b", "b x", "b -1", "\xff\xfe", "b 0 0"):
        _write(root + bootslot.TRIAL, text)
        assert bootslot.select(root) == "a", text
    for text in ("", "c", "b 0", "\xff\xfe", "B"):
        _write(root + bootslot.ACTIVE, text)
        assert bootslot.select(root) == "a", text
    _write(root + bootslot.ROLLBACK, "z 9")
    assert bootslot.take_rollback(root) is None


def test_the_app_lets_the_selector_go_unless_a_trial_needs_it():
    import sys

    import app

    root = _root()
    assert app.firmware_trial(root, None, lambda: 0) is None and "bootslot" not in sys.modules
    bootslot.start_trial(root, "b")
    bootslot.select(root)
    assert app.firmware_trial(root, None, lambda: 0) is not None and "bootslot" in sys.modules  # confirm needs it
