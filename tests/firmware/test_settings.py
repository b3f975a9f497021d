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


def test_unknown_names_from_newer_firmware_are_dropped():
    s = unpack_settings(b'{"entity": "Cooperativa", "future_setting": 3}')
    assert s.get("entity") == "Cooperativa" and "future_setting" not in s.values
    try:
        unpack_settings(b"{broken")
        raise AssertionError("accepted")
    except ValueError as exc:
        assert "settings" in str(exc)
