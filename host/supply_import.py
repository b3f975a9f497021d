"""Each customer's data for the information platform (SEC, Anexo 1, sections 3 to 5) from a distributor's files:
supplies, bills and annexes of injection with their PDFs, EG contracts, remanentes and documents. Checked whole
before anything is stored, as the network's import is (host/network.py), so a real distributor can load what
only the synthetic one (host/synth.py) wrote before.

A row file per kind (CSV with a header, or .xlsx, .xls, TOML with a [[KIND]] table per row: host/rowfile.py);
* marks a required column, the others may be left out or empty:
    supply               customer_id*, transformer (of the network already stored), billing_day (1 to 31),
                         generation (yes or no: equipment of distributed generation, EG; default no)
    bill                 customer_id*, number*, kind* (suministro, or inyeccion: an annex of injection), issued_on*
                         (YYYY-MM-DD, not before its period), period* (YYYY-MM), kwh_consumed, kwh_injected,
                         amount_clp* (whole pesos), pdf
    generation_contract  customer_id*, liquidation_form*, liquidation_date, contract_date*, installed_kw*, location
                         (the network's columns x, y, datum, zone, lon, lat; optional)
    remanente            customer_id*, month* (YYYY-MM), amount_clp*
    document             customer_id*, kind* (contrato, protocolo, estudio, otro), pdf* (stored under its file name)
customer_id is a customer of the register (opsm customers import), its RUT in any spelling; the capacidad del
empalme is the register's connected_kw, so a supply does not repeat it. A contract, a remanente and an annex of
injection belong to a customer with generation in its supply (this import's, else the stored one).
pdf names a file inside the row file's folder (pdf/boleta-5000001.pdf); it must begin as a PDF does (%PDF-) and
hold at most MAX_PDF_BYTES. Every problem names the file, the row, the column and the rule (RowFileError);
nothing is stored unless the whole import is valid, and then all of it in one transaction (Store.save_supplies).
Rows are inserted, or updated by their key; nothing is deleted.
"""

import datetime
import os
import re

from opsm.host import rowfile
from opsm.host.customers import DATE, UNKNOWN_CUSTOMER, known_customer  # the register's spelling of a RUT
# one set of value rules for the network's rows and the customers'
from opsm.host.network import (LOCATION_COLUMNS, ROW_FILE_SUFFIXES, Column, Invalid, decimal_number, locate_row,
                               merge_files, one_of, parse_columns, row_key, table_entry, whole_pesos, year_month,
                               yes_no_flag)
from opsm.host.rowfile import Problem, Rule, RowFileError
from opsm.host.store.supplies import BILL_KINDS, TABLES

DOCUMENT_KINDS = ("contrato", "protocolo", "estudio", "otro")
PDF_MAGIC = b"%PDF-"
MAX_PDF_BYTES = 4 << 20  # a bill is tens of KB, a scanned contract a few MB; the page sends it whole
MAX_IMPORT_PDF_BYTES = 256 << 20  # an import is held in memory to be written in one transaction
_EG_ONLY = ("generation_contract", "remanente")  # and a bill of kind inyeccion

BILLING_DAY = Rule("billing_day", "must be a day of the month, 1 to 31", "debe ser un día del mes, de 1 a 31")
ISSUED_BEFORE_PERIOD = Rule("issued_before_period", "must not be before the bill's period",
                            "no puede ser anterior al período de la boleta")
UNKNOWN_TRANSFORMER = Rule("unknown_reference", "must be a transformer of the database (opsm portal import "
                           "transformer)", "debe ser un transformador de la base de datos (opsm portal import "
                           "transformer)")
NO_GENERATION = Rule("no_generation", "must be a customer with generation (EG) in its supply, of this import or of "
                     "the database", "debe ser un cliente con generación (EG) en su suministro, de esta carga o de la "
                     "base de datos")
PDF_PATH = Rule("pdf_path", "must name a file inside the row file's folder, such as pdf/boleta-1.pdf",
                "debe nombrar un archivo dentro de la carpeta del archivo de filas, como pdf/boleta-1.pdf")
NOT_PDF = Rule("not_pdf", "must be a PDF file (it begins %PDF-)", "debe ser un archivo PDF (comienza con %PDF-)")
PDF_TOO_LARGE = Rule("pdf_too_large", "must be a PDF of at most %d MB" % (MAX_PDF_BYTES >> 20),
                     "debe ser un PDF de a lo más %d MB" % (MAX_PDF_BYTES >> 20))
IMPORT_TOO_LARGE = Rule("import_too_large", "the PDFs of this import add up to more than %d MB: import its files in "
                        "parts (a month at a time)" % (MAX_IMPORT_PDF_BYTES >> 20), "los PDF de esta carga suman más "
                        "de %d MB: cargue sus archivos por partes (un mes a la vez)" % (MAX_IMPORT_PDF_BYTES >> 20))


def _date(text: str) -> str:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise Invalid(DATE)


def _day(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,2}", text) or not 1 <= int(text) <= 31:
        raise Invalid(BILLING_DAY)
    return int(text)


_CUSTOMER = Column("customer_id", required=True)
KINDS = {
    "supply": (_CUSTOMER, Column("transformer"), Column("billing_day", _day), Column("generation", yes_no_flag)),
    "bill": (_CUSTOMER, Column("number", required=True), Column("kind", one_of(*BILL_KINDS), True),
             Column("issued_on", _date, True), Column("period", year_month, True),
             Column("kwh_consumed", decimal_number),
             Column("kwh_injected", decimal_number), Column("amount_clp", whole_pesos, True), Column("pdf")),
    "generation_contract": (_CUSTOMER, Column("liquidation_form", required=True), Column("liquidation_date", _date),
                            Column("contract_date", _date, True), Column("installed_kw", decimal_number, True)),
    "remanente": (_CUSTOMER, Column("month", year_month, True), Column("amount_clp", whole_pesos, True)),
    "document": (_CUSTOMER, Column("kind", one_of(*DOCUMENT_KINDS), True), Column("pdf", required=True)),
}


class _Pdfs:
    """Reads the PDFs the rows name, keeping the import within MAX_IMPORT_PDF_BYTES."""

    def __init__(self):
        self.total = 0

    def read(self, folder: str, name: str, bad) -> bytes | None:
        """The bytes of the PDF `name` (relative to `folder`); None once bad(column, rule) has recorded why not."""
        relative = os.path.normpath(name.replace("\\", "/"))
        if os.path.isabs(relative) or relative.split(os.sep)[0] == "..":
            return bad("pdf", PDF_PATH)
        try:
            with open(os.path.join(folder, relative), "rb") as f:
                data = f.read(MAX_PDF_BYTES + 1)
        except OSError as exc:
            return bad("pdf", Rule("unreadable", "cannot be read: %s" % (exc.strerror or exc),
                                   "no se pudo leer: %s" % (exc.strerror or exc)))
        if not data.startswith(PDF_MAGIC):
            return bad("pdf", NOT_PDF)
        if len(data) > MAX_PDF_BYTES:
            return bad("pdf", PDF_TOO_LARGE)
        self.total += len(data)
        if self.total > MAX_IMPORT_PDF_BYTES:
            return bad("pdf", IMPORT_TOO_LARGE)
        return data


def _check_row(kind: str, folder: str, customers: set, transformers: set, pdfs: _Pdfs):
    def check(row, bad) -> dict:
        item = parse_columns(row, KINDS[kind], bad)
        if item["customer_id"] is not None:
            item["customer_id"] = known_customer(item["customer_id"], customers)
            if item["customer_id"] is None:
                bad("customer_id", UNKNOWN_CUSTOMER)
        if item.get("pdf") is not None:
            if kind == "document":
                item["file_name"] = os.path.basename(os.path.normpath(item["pdf"].replace("\\", "/")))
            item["pdf"] = pdfs.read(folder, item["pdf"], bad)
        elif kind == "document":
            item["file_name"] = None
        if kind == "supply":
            item["generation"] = bool(item["generation"])
            if item["transformer"] is not None and item["transformer"] not in transformers:
                bad("transformer", UNKNOWN_TRANSFORMER)
        elif kind == "bill" and item["issued_on"] and item["period"] and item["issued_on"][:7] < item["period"]:
            bad("issued_on", ISSUED_BEFORE_PERIOD)
        elif kind == "generation_contract":
            locate_row(row, item, bad, False)
        return item
    return check


def _row_file(kind: str, path: str, customers: set, transformers: set, pdfs: _Pdfs) -> tuple:
    """(items, problems) of one row file of `kind`."""
    required = tuple(c.name for c in KINDS[kind] if c.required)
    optional = tuple(c.name for c in KINDS[kind] if not c.required) + (
        LOCATION_COLUMNS if kind == "generation_contract" else ())
    check = _check_row(kind, os.path.dirname(os.path.abspath(path)), customers, transformers, pdfs)
    return rowfile.checked(path, kind, required, check, TABLES[kind][1][-1], row_key(TABLES[kind][1]),
                           optional=optional)


def files_in(folder: str) -> list:
    """(kind, path) of every row file of a folder (KIND.csv, .xlsx, .xls, .toml); the PDFs they name may be
    beside them or in folders below. RowFileError naming any other file."""
    found, problems = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        stem, extension = os.path.splitext(name)
        if extension.lower() in ROW_FILE_SUFFIXES and stem.lower() in KINDS:
            found.append((stem.lower(), path))
        elif not (name.startswith(".") or extension.lower() == ".pdf" or os.path.isdir(path)):
            problems.append(Problem(path, None, None, Rule(
                "unknown_file", "not a kind of customers' file: name it KIND.csv (KIND one of %s); the network's "
                "files go in a folder of their own" % ", ".join(KINDS), "no es un archivo de datos de clientes: "
                "llámelo TIPO.csv (TIPO: %s); los de la red van en otra carpeta" % ", ".join(KINDS))))
    if problems:
        raise RowFileError(problems)
    return found


def load(store, files: list) -> dict:
    """The batch Store.save_supplies takes, from (kind, path) pairs (kind one of KINDS); RowFileError naming every
    problem of every file when any is found."""
    customers, transformers, pdfs = store.customer_ids(), store.network_keys("transformer"), _Pdfs()
    problems, read = [], []
    for kind, path in files:
        try:
            items, found = _row_file(kind, path, customers, transformers, pdfs)
        except RowFileError as exc:
            items, found = [], exc.problems
        problems += found
        read.append((kind, path, items))
    batch = merge_files(read, problems, table_entry(TABLES))
    problems += _without_generation(store, read, batch)
    if problems:
        raise RowFileError(problems)
    return batch


def _without_generation(store, read: list, batch: dict) -> list:
    """A problem for every contract, remanente and annex of injection of a customer whose supply has no
    generation (the supply of this import, else the stored one)."""
    generation = store.customers_with_generation()
    for supply in batch.get("supply", ()):
        (generation.add if supply["generation"] else generation.discard)(supply["customer_id"])
    problems = []
    for kind, path, items in read:
        for item in items:
            eg_only = kind in _EG_ONLY or (kind == "bill" and item["kind"] == "inyeccion")
            if eg_only and item["customer_id"] is not None and item["customer_id"] not in generation:
                problems.append(Problem(path, item["_row"], "customer_id", NO_GENERATION, item["customer_id"]))
    return problems


def import_files(store, files: list) -> dict:
    """Check every file, then store the whole import in one transaction; the number of rows of each kind."""
    return store.save_supplies(load(store, files))
