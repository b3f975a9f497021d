"""Admin settings: defaults, rules, JSON record (MicroPython and CPython)."""

from settings import Settings, unpack_settings


def test_defaults_and_round_trip():
    s = Settings()
    assert s.get("entity") == "OPSM-SP-230" and s.get("credito_wh") == 0 and s.get("battery") == "lead-acid"
    s.set("battery", "lifepo4")
    s.set("subsidio_wh", 25000)
    s.set("uid", "900123456")
    again = unpack_settings(s.pack())
    assert again.values == s.values


def test_rules_name_the_field():
    s = Settings()
    for name, value in (("subsidio_wh", -1), ("friendly_start_h", 24), ("uid", 5), ("nope", 1),
                        ("credito_wh", "10"), ("battery", "nicd")):
        try:
            s.set(name, value)
            raise AssertionError("accepted %s=%r" % (name, value))
        except ValueError as exc:
            assert str(exc).startswith(name)
    assert s.get("subsidio_wh") == 0


def test_settings_reject_inverted_hysteresis_whatever_the_order():
    s = Settings()
    for name, value in (("battery_cut_mv", 24800), ("battery_restore_mv", 22800)):
        try:
            s.set(name, value)
            raise AssertionError("accepted %s=%r" % (name, value))
        except ValueError as exc:
            assert str(exc) == "battery_restore_mv: must be above battery_cut_mv (hysteresis)"
    assert (s.get("battery_cut_mv"), s.get("battery_restore_mv")) == (22800, 24800)  # nothing changed
    s.set("battery_restore_mv", 26500)  # raised first, the cut can follow
    s.set("battery_cut_mv", 25000)
    both = Settings({"battery_cut_mv": 25000, "battery_restore_mv": 26500})  # checked once, as a whole
    assert both.values == s.values
    try:
        Settings({"battery_cut_mv": 25000})
        raise AssertionError("accepted")
    except ValueError as exc:
        assert "hysteresis" in str(exc)


def test_unknown_names_from_newer_firmware_are_dropped():
    s = unpack_settings(b'{"entity": "Cooperativa", "future_setting": 3}')
    assert s.get("entity") == "Cooperativa" and "future_setting" not in s.values
    try:
        unpack_settings(b"{broken")
        raise AssertionError("accepted")
    except ValueError as exc:
        assert "settings" in str(exc)
