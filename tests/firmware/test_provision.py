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
