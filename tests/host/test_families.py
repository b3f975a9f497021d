"""The host's token families (host/families.py), one interface for STS and OpenPAYGO (issue 16): the code
lengths the firmware's keypad takes, the registry fields, what a sale builds, what provisioning writes; and
that no other host module tells the families apart by their names."""

import ast
import datetime
import re
import tokenize

import pytest

import provision  # the firmware's (tests/conftest.py puts firmware/lib on the path)
from token_profiles import ADD, UNLIMITED
from opsm.protocol import sts_decoder as sts

from opsm.host import families
from opsm.host.registry import Registry, RegistryError
from opsm.host.vending import Vendor

from tests.host.conftest import ROOT

NAMES = ("sts", "openpaygo")
PAN, OPG_PAN = "600727000000000009", "600727111111111153"
KEYS = {"vending": bytes.fromhex("abababababababab949494949494949401234567"),
        "device": bytes.fromhex("0123456789abcdef0123456789abcdef")}
NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
STS_OPTIONS = dict(sgc="123457", ti=1, krn=1, kt=2, base_year=2014, ea=11, dkga="04")
# Every kind of meter of each family: (family, the options of `opsm meter add`, its key's name).
METERS = [(families.STS, STS_OPTIONS, "vending"),
          (families.STS, dict(STS_OPTIONS, ea=9, dkga="02"), "des"),
          (families.OPENPAYGO, {}, "device"),
          (families.OPENPAYGO, dict(extended=True), "device"),
          (families.OPENPAYGO, dict(restricted=True), "device"),
          (families.OPENPAYGO, dict(extended=True, restricted=True), "device")]
KEYS["des"] = bytes.fromhex("0123456789abcdef")


def meter_id(case) -> str:
    family, options, _ = case
    return "-".join([family.name] + sorted("%s=%s" % item for item in options.items() if item[0] in (
        "extended", "restricted", "dkga")))


class Keys:
    """The key file as a Vendor reads it."""

    get = staticmethod(KEYS.__getitem__)


@pytest.fixture
def registry(tmp_path):
    db = Registry(str(tmp_path / "registry.sqlite"))
    yield db
    db.close()


def registered(registry, case) -> dict:
    family, options, key_name = case
    pan = PAN if family is families.STS else OPG_PAN
    family.check_key(KEYS[key_name], key_name, pan, family.meter_fields(options))
    return registry.add(pan, family, key_name, options)


# --- no host module tells the families apart by name -------------------------------------------------------

# The names may stay only here: the registry's first schema (a migration, frozen: a new family widens the CHECK
# constraint in a migration of its own). Everything else asks the family table.
ALLOWED = {"host/store/registry.py": ("CHECK (profile IN ('sts', 'openpaygo'))", "CHECK (profile = 'openpaygo' OR")}
_QUOTED = re.compile(r"""['"](%s)['"]""" % "|".join(NAMES))


def _strings(path):
    """(line, text) of every string literal of a Python file; f-strings as written."""
    with open(path, "rb") as f:
        for token in tokenize.tokenize(f.readline):
            if token.type == tokenize.STRING:
                try:
                    value = ast.literal_eval(token.string)
                except ValueError:
                    value = token.string
                yield token.start[0], value if isinstance(value, str) else token.string
            elif getattr(tokenize, "FSTRING_MIDDLE", None) == token.type:
                yield token.start[0], token.string


def family_names_in(path, relative: str) -> list:
    """Where a host file names a family: a string that is a family's name, or one that quotes it (SQL, a
    template), outside the allow-list."""
    found = []
    if relative.endswith(".py"):
        texts = list(_strings(path))
    else:
        texts = [(n, line) for n, line in enumerate(open(path, encoding="utf-8"), 1)]
    for line, text in texts:
        for allowed in ALLOWED.get(relative, ()):
            text = text.replace(allowed, "")
        if text in NAMES or _QUOTED.search(text):
            found.append("%s:%d: %r" % (relative, line, text[:80]))
    return found


def test_only_the_family_module_names_the_families():
    found = []
    for path in sorted((ROOT / "host").rglob("*")):
        relative = path.relative_to(ROOT).as_posix()
        if path.suffix in (".py", ".html") and relative != "host/families.py":
            found += family_names_in(path, relative)
    assert found == [], "compare with host.families instead:\n" + "\n".join(found)


def test_the_grep_sees_a_comparison_and_sql(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("if meter['profile'] == \"openpaygo\":\n    pass\nx = f'{a}-stsx'\n"
                     "SQL = \"SELECT 1 FROM meters WHERE profile = 'sts'\"\nok = 'STS meters' + 'stsx'\n")
    found = family_names_in(probe, "probe.py")
    assert [line.split(":")[1] for line in found] == ["1", "4"]
    assert family_names_in(ROOT / "host" / "store" / "registry.py", "elsewhere.py")  # the allow-list is per file


def test_the_allowed_check_constraint_and_the_cli_choices_are_the_family_table(registry):
    from opsm.host.cli_token import manage, meter_add
    from opsm.host.store.registry import _V1

    constraint = re.search(r"CHECK \(profile IN \(([^)]*)\)\)", _V1[0]).group(1)
    assert [name.strip(" '") for name in constraint.split(",")] == families.names() == list(NAMES)
    choices = {p.name: p.type.choices for p in meter_add.params if p.name == "profile"}
    assert list(choices["profile"]) == families.names()
    assert [p.default for p in meter_add.params if p.name == "profile"] == [families.DEFAULT.name]
    functions = [p.type.choices for p in manage.params if p.name == "function"][0]
    assert list(functions) == families.functions() + [families.TEST]
    assert set(families.functions()) == set(families.STS.management) | set(families.OPENPAYGO.management)


def test_families_by_name_and_by_meter():
    for family in families.FAMILIES:
        assert families.by_name(family.name) is family
        assert families.of({"profile": family.name}) is family
    for wrong in ("STS", "", None, "dlms"):
        with pytest.raises(ValueError, match="^profile: must be one of sts, openpaygo"):
            families.by_name(wrong)


# --- each family through the one interface ------------------------------------------------------------------

@pytest.mark.parametrize("case", METERS, ids=meter_id)
def test_code_lengths_are_the_firmware_keypads(registry, case):
    family = case[0]
    meter = registered(registry, case)
    assert families.of(meter) is family and meter["profile"] == family.name
    doc = family.provision(meter, KEYS[meter["vending_key"]])
    assert doc["profile"] == family.name
    profile, lengths = provision.profile_from(doc)
    assert family.code_lengths(meter) == lengths
    assert type(profile).__name__ == {"sts": "StsProfile", "openpaygo": "OpenPaygoProfile"}[family.name]


@pytest.mark.parametrize("case", METERS, ids=meter_id)
def test_a_credit_sale_is_taken_by_the_meter_its_family_provisions(registry, case):
    family = case[0]
    meter = registered(registry, case)
    profile, lengths = provision.profile_from(family.provision(meter, KEYS[meter["vending_key"]]))
    decoder = profile.decoder()
    issued = Vendor(registry, Keys, "op", clock=lambda: NOW).credit(meter["pan"], 75, count=2)
    for item in issued:
        assert len(item["token"]) in lengths
        result = decoder.decode(item["token"])
        assert result.ok, (item, result)
        assert profile.credit(result) == (ADD, 7500)
        decoder.commit(result)
    after = registry.meter(meter["pan"])
    counts = [family.sale_count(item) for item in issued]
    if family.supports(families.KEY_CHANGE):  # STS: rising TIDs from the minute of the sale
        assert counts == [None, None]
        assert [item["tid"] for item in issued] == [after["last_tid"] - 1, after["last_tid"]]
        assert issued[0]["tid"] == families.tid_at(NOW, meter["base_year"])
    else:  # OpenPAYGO: ADD_TIME on the next even counts
        assert counts == [2, 4] and after["opaygo_count"] == 4
    assert [row["opaygo_count"] for row in registry.tokens()] == counts


def test_what_each_family_sells():
    sts_family, opg_family = families.STS, families.OPENPAYGO
    assert all(sts_family.supports(kind) for kind in ["credit", families.TEST, families.KEY_CHANGE,
                                                      *sts_family.management])
    assert not any(sts_family.supports(kind) for kind in opg_family.management)
    assert all(opg_family.supports(kind) for kind in ["credit", *opg_family.management])
    assert not any(opg_family.supports(kind) for kind in [families.TEST, families.KEY_CHANGE,
                                                          *sts_family.management])


def test_management_and_refusals_through_the_vendor(registry):
    vendor = Vendor(registry, Keys, "op", clock=lambda: NOW)
    sts_meter, opg_meter = registered(registry, METERS[0]), registered(registry, METERS[2])
    sts_decoder = provision.profile_from(families.STS.provision(sts_meter, KEYS["vending"]))[0].decoder()
    result = sts_decoder.decode(vendor.management(PAN, "max-power", 2500)["token"])
    assert result.kind == sts.MAX_POWER and result.amount == 2500
    assert sts_decoder.decode(vendor.test(PAN, ["relay"])["token"]).kind == sts.TEST
    assert len(vendor.key_change(PAN)["tokens"]) == 4

    opg_profile = provision.profile_from(families.OPENPAYGO.provision(opg_meter, KEYS["device"]))[0]
    item = vendor.management(OPG_PAN, "disable-payg", 0)
    result = opg_profile.decoder().decode(item["token"])
    assert result.ok and opg_profile.credit(result) == (UNLIMITED, 0)
    assert item["details"] == {"count": 1} and registry.meter(OPG_PAN)["opaygo_count"] == 1

    before = registry.tokens()
    for pan, sale in ((OPG_PAN, lambda: vendor.management(OPG_PAN, "max-power", 5)),
                      (OPG_PAN, lambda: vendor.test(OPG_PAN, ["relay"])),
                      (OPG_PAN, lambda: vendor.key_change(OPG_PAN)),
                      (PAN, lambda: vendor.management(PAN, "counter-sync", 0))):
        with pytest.raises(RegistryError, match="^meter: %s uses the \\w+ profile, which has no" % pan):
            sale()
    with pytest.raises(ValueError, match="^function: must be one of clear-credit, .*, tariff, counter-sync, disable-payg$"):
        vendor.management(PAN, "reboot", 0)
    assert registry.tokens() == before


@pytest.mark.parametrize("family,options,field", [
    (families.STS, dict(STS_OPTIONS, sgc=None), "sgc"),
    (families.STS, dict(STS_OPTIONS, sgc="12"), "sgc"),
    (families.STS, dict(STS_OPTIONS, ti=None), "ti"),
    (families.STS, dict(STS_OPTIONS, krn=10), "krn"),
    (families.STS, dict(STS_OPTIONS, kt=4), "kt"),
    (families.STS, dict(STS_OPTIONS, ken=256), "ken"),
    (families.STS, dict(STS_OPTIONS, base_year=2000), "base-date"),
    (families.STS, dict(STS_OPTIONS, base_year=None), "base-date"),
    (families.STS, dict(STS_OPTIONS, ea=7), "ea"),
    (families.STS, dict(STS_OPTIONS, dkga="02"), "ea"),  # DKGA-02 keys are DES keys
    (families.STS, dict(STS_OPTIONS, dkga="03"), "dkga"),
    (families.OPENPAYGO, dict(count=-1), "count"),
    (families.OPENPAYGO, dict(count="3"), "count"),
])
def test_a_new_meter_s_fields_are_checked_by_its_family(registry, family, options, field):
    with pytest.raises(ValueError, match="^%s: " % field):
        family.meter_fields(options)
    with pytest.raises(RegistryError, match="^%s: " % field):
        registry.add(PAN, family, "vending", options)
    assert registry.meters() == []


def test_each_family_keeps_its_own_fields(registry):
    """Options of the other family are ignored; the registry's row holds what the family took."""
    both = dict(STS_OPTIONS, extended=True, restricted=True, count=7)
    sts_row = registry.add(PAN, families.STS, "vending", both)
    assert {name: sts_row[name] for name in families.STS.FIELDS} == dict(STS_OPTIONS, ken=255)
    assert (sts_row["opaygo_extended"], sts_row["opaygo_restricted"], sts_row["opaygo_count"]) == (0, 0, 0)
    opg_row = registry.add(OPG_PAN, families.OPENPAYGO, "device", both)
    assert {name: opg_row[name] for name in families.OPENPAYGO.FIELDS} == dict(
        opaygo_extended=1, opaygo_restricted=1, opaygo_count=7)
    assert all(opg_row[name] is None for name in ("sgc", "ti", "krn", "kt", "base_year", "ea", "dkga"))
    assert families.STS.summary(sts_row) == "EA11, DKGA-04, base 2014"
    assert families.OPENPAYGO.summary(opg_row) == "OpenPAYGO extended"
    assert families.STS.status(sts_row) == "EA11 DKGA-04 KRN 1 KT 2 TI 01 base 2014"
    assert families.OPENPAYGO.status(opg_row) == "OpenPAYGO count 7"
    # the older entry points go through the same families
    assert registry.add_openpaygo_meter("600727222222222225", "device", restricted=True)["opaygo_restricted"] == 1


def test_each_family_checks_its_key():
    families.OPENPAYGO.check_key(KEYS["device"], "device", OPG_PAN, {})
    with pytest.raises(ValueError, match="^vending-key: an OpenPAYGO secret key is 16 bytes, 'des' has 8"):
        families.OPENPAYGO.check_key(KEYS["des"], "des", OPG_PAN, {})
    fields = families.STS.meter_fields(STS_OPTIONS)
    families.STS.check_key(KEYS["vending"], "vending", PAN, fields)
    with pytest.raises(ValueError, match="^vending-key: "):
        families.STS.check_key(KEYS["des"], "des", PAN, fields)  # DKGA-04 needs 16 bytes or more


def test_provisioning_documents_are_the_family_s(registry):
    sts_meter, opg_meter = registered(registry, METERS[0]), registered(registry, METERS[5])
    doc = families.STS.provision(sts_meter, KEYS["vending"])
    assert doc == {"profile": "sts", "key": families.derive_decoder_key(KEYS["vending"], sts_meter).hex(), "ea": 11,
                   "base_year": 2014, "krn": 1, "kt": 2, "ti": 1, "ken": 255, "sgc": 123457}
    assert families.OPENPAYGO.provision(opg_meter, KEYS["device"]) == {
        "profile": "openpaygo", "key": KEYS["device"].hex(), "starting_code": None, "extended": True,
        "restricted": True}


def test_the_migration_takes_counts_from_the_family(tmp_path):
    """Version 2 of the registry fills the OpenPAYGO count column through the family's sale_count."""
    import sqlite3

    from opsm.host.store.registry import _V1

    path = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)
    for statement in _V1:
        db.execute(statement.replace("{pk}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
    db.execute("INSERT INTO meters (pan, profile, vending_key, created_at) VALUES (?, 'openpaygo', 'device', 'x')",
               (OPG_PAN,))
    db.execute("INSERT INTO meters (pan, profile, dkga, ea, sgc, ti, krn, kt, base_year, vending_key, created_at)"
               " VALUES (?, 'sts', '04', 11, '123457', 1, 1, 2, 2014, 'vending', 'x')", (PAN,))
    for pan, details in ((OPG_PAN, '{"count": 2}'), (PAN, '{"count": 9}')):
        db.execute("INSERT INTO tokens (pan, kind, token, details, operator, issued_at) VALUES (?, 'credit', '1', ?,"
                   " 'op', 'x')", (pan, details))
    db.commit()
    db.close()
    registry = Registry(path)
    try:
        assert [(t["pan"], t["opaygo_count"]) for t in registry.tokens()] == [(OPG_PAN, 2), (PAN, None)]
    finally:
        registry.close()


def test_the_code_length_guard_refuses_a_code_the_keypad_cannot_take(registry, monkeypatch):
    meter = registered(registry, METERS[2])
    monkeypatch.setattr(families.OpenPaygo, "code_lengths", lambda self, meter: (12,))
    with pytest.raises(RuntimeError, match="9-digit OpenPAYGO code .* takes 12 digits"):
        Vendor(registry, Keys, "op").credit(meter["pan"], 10)
    assert registry.tokens() == [] and registry.meter(meter["pan"])["opaygo_count"] == 0

