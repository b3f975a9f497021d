"""A vending console ready to sell: a key file, a registered STS meter, the first administrator.

Shared by the console's HTTP tests and its browser tests.
"""

import io
import os
import zipfile

import openpyxl
from click.testing import CliRunner

from opsm.host.cli import cli
from opsm.host.console.app import first_administrator
from opsm.host.keystore import KeyStore
from opsm.host.vending import derive_decoder_key

PASSPHRASE = "correct horse battery staple"
VENDING_KEY = "abababababababab949494949494949401234567"
PAN, SECOND_PAN = "600727000000000009", "600727000000000017"
ADMIN = ("admin@example.org", "admin-secret-1")


class Setup:
    def __init__(self, folder, db: str | None = None):
        self.folder = str(folder)
        self.registry = os.path.join(self.folder, "registry.sqlite")
        self.keyfile = os.path.join(self.folder, "keys.json")
        self.db = db or os.path.join(self.folder, "operations.sqlite")
        env = {"OPSM_DB": self.registry, "OPSM_KEYFILE": self.keyfile, "OPSM_PASSPHRASE": PASSPHRASE}
        for args in (["keys", "init"], ["keys", "add", "default", "--hex", VENDING_KEY],
                     ["meter", "add", "--pan", PAN, "--sgc", "123457", "--base-date", "2014"],
                     ["meter", "add", "--pan", SECOND_PAN, "--sgc", "123457", "--base-date", "2014"]):
            result = CliRunner().invoke(cli, args, env=env)
            assert result.exit_code == 0, result.output
        self.keystore = KeyStore.open(self.keyfile, PASSPHRASE)
        assert first_administrator(self.db, ADMIN[0], ADMIN[1]) == ""

    def decoder_key(self, pan: str) -> bytes:
        from opsm.host.registry import Registry

        registry = Registry(self.registry)
        try:
            return derive_decoder_key(self.keystore.get("default"), registry.meter(pan))
        finally:
            registry.close()


def huge_workbook(rows: int) -> bytes:
    """An .xlsx of `rows` rows under a header, small on disk (the same row over and over compresses ~1000:1),
    as a spreadsheet someone sends can be; the sheet's XML is written directly, openpyxl would take minutes."""
    book = openpyxl.Workbook()
    book.active.append(["Identificacion"])
    small = io.BytesIO()
    book.save(small)
    out = io.BytesIO()
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                cut = text.index("</sheetData>")
                text = text[:cut] + "<row><c><v>7</v></c></row>" * rows + text[cut:]
                data = text.replace('<dimension ref="A1:A1" />', "").encode()
            target.writestr(item, data)
    return out.getvalue()
