"""Security suite 0 on CPython against `cryptography`'s AESGCM and the test-only peer `dlms_cosem`.

dlms_cosem is a test peer only (Business Source License): it must never be imported by
product code. Its encrypt/decrypt cover authenticated encryption (SC 0x30) and its gmac
the HLS mechanism 5 tag; the other two protections are checked against AESGCM directly.
"""

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from dlms_cosem import security as peer
from dlms_cosem.dlms_data import encode_variable_integer
from dlms_cosem.protocol.xdlms.general_global_cipher import GeneralGlobalCipher
from hypothesis import given, settings
from hypothesis import strategies as st

from opsm.protocol import dlms_security as S
from opsm.protocol import gcm

keys = st.binary(min_size=16, max_size=16)
ivs = st.binary(min_size=12, max_size=12)
titles = st.binary(min_size=8, max_size=8)
counters = st.integers(min_value=0, max_value=0xFFFFFFFF)
messages = st.binary(max_size=600)
apdus = st.binary(max_size=300)
challenges = st.binary(min_size=8, max_size=64)
tag_lens = st.sampled_from(gcm.TAG_LENGTHS)

AUTH_ENC = peer.SecurityControlField(security_suite=0, authenticated=True, encrypted=True)
AUTH = peer.SecurityControlField(security_suite=0, authenticated=True)


@settings(max_examples=400, deadline=None)
@given(keys, ivs, messages, messages, tag_lens)
def test_gcm_encrypt_matches_aesgcm(key, iv, plaintext, aad, tag_len):
    reference = AESGCM(key).encrypt(iv, plaintext, aad)
    ciphertext, tag = gcm.encrypt(key, iv, plaintext, aad, tag_len)
    assert ciphertext == reference[:-16]
    assert tag == reference[-16:][:tag_len]


@settings(max_examples=300, deadline=None)
@given(keys, ivs, messages, messages)
def test_gcm_decrypts_aesgcm_output(key, iv, plaintext, aad):
    reference = AESGCM(key).encrypt(iv, plaintext, aad)
    assert gcm.decrypt(key, iv, reference[:-16], aad, reference[-16:]) == plaintext
    assert gcm.decrypt(key, iv, reference[:-16], aad, reference[-16:-4]) == plaintext


@settings(max_examples=300, deadline=None)
@given(keys, ivs, messages)
def test_gmac_matches_aesgcm_over_empty_plaintext(key, iv, aad):
    assert gcm.gmac(key, iv, aad, 16) == AESGCM(key).encrypt(iv, b"", aad)


@settings(max_examples=300, deadline=None)
@given(apdus, titles, counters, keys, keys)
def test_auth_enc_matches_dlms_cosem(apdu, title, ic, ek, ak):
    body = peer.encrypt(AUTH_ENC, title, ic, ek, apdu, ak)
    protected = S.protect(apdu, S.SC_AUTH_ENC, title, ic, ek, ak)
    assert protected == b"\x30" + ic.to_bytes(4, "big") + body
    assert peer.decrypt(AUTH_ENC, title, ic, ek, protected[5:], ak) == apdu
    assert S.unprotect(b"\x30" + ic.to_bytes(4, "big") + body, title, ek, ak) == (0x30, ic, apdu)


@settings(max_examples=300, deadline=None)
@given(apdus, titles, counters, keys, keys)
def test_auth_only_and_enc_only_match_aesgcm(apdu, title, ic, ek, ak):
    iv = title + ic.to_bytes(4, "big")
    header = ic.to_bytes(4, "big")
    tag = AESGCM(ek).encrypt(iv, b"", b"\x10" + ak + apdu)[:12]
    assert S.protect(apdu, S.SC_AUTH, title, ic, ek, ak) == b"\x10" + header + apdu + tag
    ciphertext = AESGCM(ek).encrypt(iv, apdu, b"")[:-16]
    assert S.protect(apdu, S.SC_ENC, title, ic, ek, ak) == b"\x20" + header + ciphertext
    assert S.unprotect(b"\x20" + header + ciphertext, title, ek, ak) == (0x20, ic, apdu)


@settings(max_examples=300, deadline=None)
@given(challenges, titles, counters, keys, keys)
def test_hls_gmac_matches_dlms_cosem(challenge, title, ic, ek, ak):
    reply = S.hls_gmac(challenge, title, ic, ek, ak)
    assert reply == b"\x10" + ic.to_bytes(4, "big") + peer.gmac(AUTH, title, ic, ek, ak, challenge)
    assert S.hls_verify(reply, challenge, title, ek, ak) == ic


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100), titles, counters, keys, keys)
def test_general_glo_ciphering_matches_dlms_cosem(apdu, title, ic, ek, ak):
    # dlms_cosem writes the content length as one byte: keep the content under 128 bytes.
    protected = S.protect(apdu, S.SC_AUTH_ENC, title, ic, ek, ak)
    ours = S.general_glo_wrap(title, protected)
    theirs = GeneralGlobalCipher(title, AUTH_ENC, ic, protected[5:])
    assert ours == theirs.to_bytes()
    parsed = GeneralGlobalCipher.from_bytes(ours)
    assert (parsed.system_title, parsed.invocation_counter) == (title, ic)
    assert parsed.to_plain_apdu(ek, ak) == apdu
    assert S.unwrap(theirs.to_bytes()) == (S.FORM_GENERAL_GLO, None, title, protected)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=0xFFFF), st.sampled_from(sorted(S.PLAIN_TAG)))
def test_glo_length_matches_dlms_cosem_encoding(n, tag):
    wrapped = S.glo_wrap(tag, bytes(n))
    assert wrapped[1:len(wrapped) - n] == encode_variable_integer(n)
