"""Factory provisioning documents (MicroPython and CPython)."""

from provision import profile_from


def test_sts_and_openpaygo_documents():
    profile, lengths = profile_from({"profile": "sts", "key": "00" * 16, "ea": 11, "base_year": 2014,
                                     "krn": 3, "sgc": 123457})
    state = profile.decoder().state
    assert lengths == (20,) and state.krn == 3 and state.base_year == 2014 and state.sgc == 123457
    for extended, restricted, length in ((False, False, 9), (True, False, 12), (False, True, 15), (True, True, 20)):
        profile, lengths = profile_from({"profile": "openpaygo", "key": "11" * 16, "extended": extended,
                                         "restricted": restricted})
        assert lengths == (length,) and profile.extended == extended


def test_bad_documents_name_the_field():
    for doc in ({"profile": "sts", "key": "zz"}, {"profile": "sts"}, {"profile": "other", "key": "00"},
                {"profile": "sts", "key": "00" * 3}):
        try:
            profile_from(doc)
            raise AssertionError("accepted %r" % doc)
        except ValueError as exc:
            assert "provision" in str(exc) or "key" in str(exc)


def _flash_with(text):
    from tests.firmware.fakeflash import FakeFlash

    flash = FakeFlash()
    if text is not None:
        with flash.open("/m/provision.json", "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
    return flash


def test_every_fault_of_the_provisioning_file_is_a_message_not_a_crash():
    from provision import load

    good = '{"profile": "sts", "key": "%s", "lls_password": "meter-own-secret", "hls": {"ek": "%s", "ak": "%s", ' \
           '"kek": "%s"}}' % ("00" * 16, "11" * 16, "22" * 16, "33" * 16)
    profile, lengths, creds, settings = load("/m", _flash_with(good).open)
    assert lengths == (20,) and creds.verify(b"meter-own-secret") and creds.kek == bytes([0x33]) * 16
    assert settings.get("entity") == "OPSM-SP-230"  # no "settings": the defaults
    key = '"profile": "sts", "key": "%s"' % ("00" * 16)
    for text, rule in ((None, "no provision.json"), ("{not json", "not JSON"), (b"\xff\xfe", "not JSON"),
                       ("[1, 2]", "one object"), ('{"profile": "sts", "key": 5}', "provision"),
                       ('{"profile": "sts", "key": "%s", "ea": "x"}' % ("00" * 16), "provision"),
                       ('{"profile": "sts", "key": "%s", "lls_password": "short"}' % ("00" * 16), "lls_password"),
                       ('{"profile": "sts", "key": "%s", "lls_password": 7}' % ("00" * 16), "lls_password"),
                       ('{"profile": "sts", "key": "%s", "hls": {"ek": "11"}}' % ("00" * 16), "hls"),
                       ('{%s, "settings": [1]}' % key, "settings must be an object"),
                       ('{%s, "settings": {"credito_wh": 5000}}' % key, "settings.credito_wh: not a field setting"),
                       ('{%s, "settings": {"utc_offset_min": 900}}' % key, "settings.utc_offset_min: must be"),
                       ('{%s, "settings": {"entity": "%s"}}' % (key, "E" * 25), "settings.entity: must be text"),
                       ('{%s, "settings": {"battery": "nicd"}}' % key, "settings.battery: must be one of")):
        try:
            load("/m", _flash_with(text).open)
            raise AssertionError("accepted %r" % (text,))
        except ValueError as exc:
            assert rule in str(exc), (text, str(exc))


def test_a_meter_that_cannot_start_says_why_with_the_supply_off():
    from app import frame_buffer
    from provision import halt
    from boards import sim

    hal = sim.make_hal("/m", opener=_flash_with(None).open)
    hal.relay(True)
    fb, data = frame_buffer()
    shown = []
    real_show = hal.display.show

    def show(fb_bytes, palette, y0, y1):
        shown.append(y0)
        real_show(fb_bytes, palette, y0, y1)

    hal.display.show = show
    text = halt(hal, fb, data, "provision: no provision.json on the meter (opsm fw provision)")
    assert not hal.relay.closed and shown == list(range(0, 240, fb.lines))
    assert "SIN CONFIGURAR" in text and "provision: no provision.json on the" in text


def test_the_provisioned_settings_are_the_meters_until_it_saves_its_own():
    from boards import sim
    from meter import Meter
    from provision import load

    from tests.firmware.test_meter import _type, screen_text

    doc = ('{"profile": "sts", "key": "f94b6ed353c3bfdb113e2d3a7ea3c41d", "base_year": 1993, "settings": '
           '{"serial": "0123456789012", "entity": "Cooperativa Rio Claro", "utc_offset_min": -360, '
           '"low_credit_wh": 3000, "battery_cut_mv": 23000}}')
    flash = _flash_with(doc)
    profile, lengths, creds, settings = load("/m", flash.open)
    hal = sim.make_hal("/m", sim.SimClock(), opener=flash.open)
    meter = Meter(hal, profile, lengths, provisioned=creds, settings=settings)
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    _type(meter, "*63638916334124550935*D")  # 25.6 kWh: the main screen, not the no-credit alarm
    assert "Cooperativa Rio Claro" in screen_text(meter)  # the entity's name, as the seed's screen
    assert meter.snapshot()["serial"] == "0123456789012"
    assert (meter.relay.settings.low_credit_wh, meter.relay.settings.battery_cut_mv) == (3000, 23000)
    assert meter._hour(0) == 18  # 00:00 UTC is 18:00 the day before at UTC-6
    meter.set_setting("entity", "Otra Entidad")
    again = Meter(hal, profile, lengths, settings=load("/m", flash.open)[3])
    again.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    assert again.settings.get("entity") == "Otra Entidad" and again.settings.get("battery_cut_mv") == 23000
