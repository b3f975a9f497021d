"""Published STS vectors through the library and the CLI: keys, tokens, fields."""

import json

import pytest
from click.testing import CliRunner

from opsm.host.cli import cli
from opsm.host.sts import keys, tokens
from opsm.protocol import sts_decoder as sts
from opsm.protocol.sts_amount import encode_amount
from tests.host.conftest import sts_vectors, vector_id

VECTORS = sts_vectors()
# Key derivation for every keyed vector (EA07 keys derive too); tokens only where the cipher
# is public (EA09, EA11) and the vector carries a TID token's fields. Vectors of other
# shapes (e.g. key change sets) have their own tests when they appear.
DERIVABLE = [v for v in VECTORS if "decoder_key_hex" in v and "vending_key_hex" in v]
KEYED = [v for v in DERIVABLE if v.get("ea") in ("09", "11") and "tid_minutes" in v
         and ("amount_field_hex" in v or "value_field_hex" in v)]
CLASS1 = [v for v in VECTORS if v.get("token_class") == 1 and "control_hex" in v]
AMOUNTS = [v for v in KEYED if "amount_tenths" in v]


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def value_field(v) -> int:
    return int(v.get("amount_field_hex") or v["value_field_hex"], 16)


def test_vector_set_is_complete():
    assert len(VECTORS) >= 55 and len(KEYED) >= 37 and len(CLASS1) >= 18


@pytest.mark.parametrize("v", DERIVABLE, ids=vector_id)
def test_decoder_key_derivation(v):
    args = (bytes.fromhex(v["vending_key_hex"]), v["meter_pan"], v["supply_group_code"],
            int(v["tariff_index"]), v["key_revision_number"], v["key_type"])
    if v["dkga"] == "04":
        key = keys.dkga04(*args, base_year=int(v["base_date_dkga04"]), ea=int(v["ea"]))
    else:
        key = keys.dkga02(*args)
    assert key.hex() == v["decoder_key_hex"]
    out = json.loads(run("token", "derive-key", "--dkga", v["dkga"], "--vending-key", v["vending_key_hex"],
                         "--pan", v["meter_pan"], "--sgc", v["supply_group_code"], "--ti", v["tariff_index"],
                         "--krn", v["key_revision_number"], "--kt", v["key_type"],
                         "--base-date", v.get("base_date_dkga04", "1993"), "--ea", v["ea"], "--json"))
    assert out["decoder_key"] == v["decoder_key_hex"]


@pytest.mark.parametrize("v", KEYED, ids=vector_id)
def test_build_parse_and_meter_decode(v):
    key = bytes.fromhex(v["decoder_key_hex"])
    ea = int(v["ea"])
    code = tokens.tid_token(v["token_class"], v["token_subclass"], v["tid_minutes"], value_field(v),
                            v["random_no"], ea, key)
    assert code == v["token"]
    cli_code = run("token", "build", "--ea", v["ea"], "--decoder-key", v["decoder_key_hex"],
                   "--class", v["token_class"], "--subclass", v["token_subclass"],
                   "--random", v["random_no"], "--tid", v["tid_minutes"],
                   "--value-field", "%04x" % value_field(v))
    assert cli_code == v["token"]
    fields = json.loads(run("token", "parse", v["token"], "--ea", v["ea"], "--decoder-key",
                            v["decoder_key_hex"], "--json"))
    assert fields["class"] == v["token_class"] and fields["subclass"] == v["token_subclass"]
    assert fields["random"] == v["random_no"] and fields["tid"] == v["tid_minutes"]
    assert fields["value_field"] == "%04x" % value_field(v) and fields["crc_ok"] is True
    if "amount_tenths" in v and v["token_subclass"] == 0 and v["token_class"] == 0:
        assert fields["kwh"] == pytest.approx(v["amount_tenths"] / 10, abs=1.0)
    # The meter's own decoder, as it runs on the board.
    base = int(v["tid_base_date"])
    result = sts.StsDecoder(sts.StsState(key, ea=ea, base_year=base)).decode(v["token"])
    if v["token_class"] == 0 and v["token_subclass"] != 0:
        assert result.reason == "FUNCTION"  # water and gas: decrypted and CRC-checked, not ours
    else:
        assert result.ok, result
        assert result.tid == v["tid_minutes"] and result.value == value_field(v)


@pytest.mark.parametrize("v", AMOUNTS, ids=vector_id)
def test_amount_from_kwh_rounds_like_the_vector(v):
    assert encode_amount(v["amount_tenths"]) == value_field(v)


@pytest.mark.parametrize("v", CLASS1, ids=vector_id)
def test_class1_tokens(v):
    control = int(v["control_hex"], 16)
    assert tokens.meter_test_token(v["token_subclass"], v["manufacturer_code"], control) == v["token"]
    cli_code = run("token", "build", "--class", 1, "--subclass", v["token_subclass"],
                   "--mfr", v["manufacturer_code"], "--control", v["control_hex"])
    assert cli_code == v["token"]
    fields = json.loads(run("token", "parse", v["token"], "--json"))
    assert fields["mfr"] == v["manufacturer_code"] and int(fields["control"], 16) == control
    assert fields["crc_ok"] is True
    result = sts.StsDecoder(sts.StsState(bytes(16))).decode(v["token"])
    assert result.ok and result.kind == sts.TEST and result.value == v["manufacturer_code"]


def primitives() -> dict:
    from tests.host.conftest import VECTOR_DIRS

    return json.loads((VECTOR_DIRS[0] / "sts_primitives.json").read_text())


@pytest.mark.parametrize("case", primitives()["dkga04"] + primitives()["dkga02"], ids=lambda c: c["decoder_key"])
def test_primitive_key_derivations_including_sta_keys(case):
    dkga = "04" if "base_date" in case else "02"
    out = json.loads(run("token", "derive-key", "--dkga", dkga, "--vending-key", case["vending_key"],
                         "--pan", case["meter_pan"], "--sgc", case["sgc"], "--ti", case["ti"], "--krn", case["krn"],
                         "--kt", case["key_type"], "--base-date", "19" + case.get("base_date", "93"),
                         "--ea", case.get("ea", "09"), "--json"))
    assert out["decoder_key"] == case["decoder_key"]
