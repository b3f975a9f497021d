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
    profile, lengths, creds = load("/m", _flash_with(good).open)
    assert lengths == (20,) and creds.verify(b"meter-own-secret") and creds.kek == bytes([0x33]) * 16
    for text, rule in ((None, "no provision.json"), ("{not json", "not JSON"), (b"\xff\xfe", "not JSON"),
                       ("[1, 2]", "one object"), ('{"profile": "sts", "key": 5}', "provision"),
                       ('{"profile": "sts", "key": "%s", "ea": "x"}' % ("00" * 16), "provision"),
                       ('{"profile": "sts", "key": "%s", "lls_password": "short"}' % ("00" * 16), "lls_password"),
                       ('{"profile": "sts", "key": "%s", "lls_password": 7}' % ("00" * 16), "lls_password"),
                       ('{"profile": "sts", "key": "%s", "hls": {"ek": "11"}}' % ("00" * 16), "hls")):
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
