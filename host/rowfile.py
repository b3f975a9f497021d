"""Tables people keep by hand (customer registers, charges, inventories, channel maps) as rows of text.

The one reader of row files for the console and every CLI command. A file is:
- an Excel workbook, .xlsx (openpyxl) or .xls (BIFF, xlrd): the first sheet;
- CSV text: `,`, `;` (Excel in Spanish) or tab between fields; UTF-8 with or without BOM, UTF-16
  (Excel's "Unicode text"), else Windows-1252 / Latin-1 (what Excel in Spanish writes);
- TOML with one [[table]] per row (told by the name .toml).
A workbook is told by its content (a zip, or an OLE2 compound file), not by its name: the console
keeps an upload under a temporary name. Text under an Excel name is read as CSV only when its first
line has a separator; otherwise it is refused as not a workbook.

Rules, the same for every kind of row file:
- Every value comes back as stripped text, so one checker validates every form alike.
- Row numbers are the spreadsheet's own: the header is the first non-blank row (row 1 as a rule),
  blank rows count and are skipped; in TOML the n-th [[table]] is row n.
- Numbers: Excel keeps 15 significant digits (1234567890123456 typed becomes 1234567890123450, an
  18-digit PAN 6.00727E+17). A spreadsheet number cell holding an integer of at most 15 digits is read
  as its exact digits (an identifier typed as a number). A number cell of 16 digits or more, or CSV
  text in scientific notation of 12 digits or more ("6,00727E+17", what Excel writes for a long
  number), may have lost digits and nothing in the file tells: the cell is refused with LOST_DIGITS
  ("escriba el PAN como texto"), never guessed. Other numbers read as Excel shows them (15
  significant digits: 0.29, not 0.28999999999999998). TOML integers are exact (the file is text).
- Header names match in any case and spacing; `aliases` maps other names (the console's Spanish
  headers) to a column. Given `optional`, a column that is neither required nor optional is an error
  naming it (a column silently dropped loses data), as are a column named twice and values under a
  header cell left empty.
- Problems are structured. A Problem is the CLI's English line ("PATH row N: column: rule, got 'v'")
  and carries the row, the column (and the header as the file writes it), a rule code, the value and
  the Spanish words: problem.text("es").
"""

import csv
import datetime
import io
import math
import os
import re
import tomllib
from typing import NamedTuple

EXCEL_DIGITS = 15      # significant digits Excel keeps in a number
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE]\+?(\d+)")
_ZIP, _OLE2 = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SEPARATORS = ",;\t"


class Rule(NamedTuple):
    """What a value must be: a stable code (for a caller keeping its own words), English and Spanish."""
    code: str
    en: str
    es: str


LOST_DIGITS = Rule("lost_digits",
                   "the spreadsheet lost digits of this number (Excel keeps %d significant digits and writes long "
                   "numbers to CSV as 6.00727E+17): write it as text (cell format Text, or a leading apostrophe)"
                   % EXCEL_DIGITS,
                   "la planilla perdió dígitos de este número (Excel guarda %d cifras y escribe los números largos "
                   "en CSV como 6,00727E+17): escriba el PAN como texto, igual que toda identificación larga "
                   "(celda con formato Texto, o un apóstrofo ' delante)" % EXCEL_DIGITS)


class Problem(str):
    """One problem of a row file. The string is the CLI's English line; the attributes say where and what:
    path, row (the spreadsheet's row number, None for the whole file), column (the name the checker uses),
    header (the column as the file writes it), code and rule (a Rule), value (the text read, or None)."""

    path: str
    row: int | None
    column: str | None
    header: str | None
    rule: Rule
    code: str
    value: str | None

    def __new__(cls, path: str, row: int | None, column: str | None, rule, value: str | None = None,
                header: str | None = None):
        rule = rule if isinstance(rule, Rule) else Rule("", str(rule), str(rule))
        where = path if row is None or column in (None, "header") else "%s row %d" % (path, row)
        line = "%s: %s" % (where, rule.en) if column is None else "%s: %s: %s" % (where, column, rule.en)
        shown = value is not None and column != "header"  # a header problem names its columns already
        self = super().__new__(cls, "%s, got %r" % (line, value) if shown else line)
        self.path, self.row, self.column, self.rule, self.value = path, row, column, rule, value
        self.header = header or column
        self.code = rule.code
        return self

    def text(self, lang: str = "es", path: bool = True) -> str:
        """The problem in `lang` ("es" or "en"), naming the file (unless path=False), the row and the column."""
        if lang != "es":
            return str(self) if path else str(self).split(self.path, 1)[1].lstrip(" :")
        where = []
        if self.row is not None:
            where.append("fila %d" % self.row)
        if self.column == "header":
            where.append("encabezado")
        elif self.column is not None:
            where.append("columna %s" % self.header)
        head = ", ".join(([self.path] if path else []) + where)
        shown = self.value and self.column != "header"
        words = self.rule.es + ("; se recibió «%s»" % self.value if shown else "")
        return "%s: %s" % (head, words) if head else words[:1].upper() + words[1:]


class RowFileError(ValueError):
    """The file, or its header, cannot be used; `problems` says why (one Problem each)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def text(self, lang: str = "es") -> str:
        return "\n".join(problem.text(lang) for problem in self.problems)


def _file_error(path: str, en: str, es: str, code: str = "file") -> RowFileError:
    return RowFileError([Problem(path, None, None, Rule(code, en, es))])


class Row(dict):
    """A data row, column -> text; `number` is the spreadsheet's row number, `problems` the cells already
    refused by the reader (LOST_DIGITS), `headers` column -> the header as the file writes it."""

    def __init__(self, values: dict, number: int, problems=(), headers=None):
        super().__init__(values)
        self.number = number
        self.problems = list(problems)
        self.headers = headers or {}


class Table(NamedTuple):
    """A kind of row file: its TOML table name, its columns (required first) and other names for them."""
    kind: str
    required: tuple
    optional: tuple = ()
    aliases: dict = {}

    @property
    def columns(self) -> tuple:
        return self.required + self.optional


# The AMM channel map (host/smec.py's load_channels reads these columns).
CHANNELS = Table("channel", ("channel", "device_id", "quantity", "participant"), ("multiplier",))


def tables() -> dict:
    """kind -> Table of every row file the CLI reads: customer, charge, meter, channel."""
    from opsm.host import customers, inventory

    return {table.kind: table for table in (customers.CUSTOMERS, customers.CHARGES, inventory.METERS, CHANNELS)}


# --- cells -------------------------------------------------------------------------------------------------

def _number(value, lost: list) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        if abs(value) >= 10 ** EXCEL_DIGITS:
            lost.append(True)
        return str(int(value))
    return "%.*g" % (EXCEL_DIGITS, value)  # what Excel shows: 0.29, not 0.28999999999999998


def _text(value, lost: list) -> str:
    """A cell as text; appends to `lost` when the cell is a number that lost digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _number(value, lost)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = str(value).strip()
    scientific = _SCIENTIFIC.fullmatch(text)
    if scientific and int(scientific.group(1)) >= 11:
        lost.append(True)  # a CSV from Excel: "6,00727E+17" is what it showed for an 18-digit number
    return text


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --- the forms of file --------------------------------------------------------------------------------------

def _not_xlsx(path: str, exc) -> RowFileError:
    return _file_error(path, "not an Excel .xlsx workbook: %s" % exc, "no es un libro de Excel .xlsx",
                       "not_a_workbook")


def _xlsx(data: bytes, path: str):
    """(row number, cell values) of the first sheet from row 1, read as they are asked for."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        if b"opendocument" in data[:100]:
            raise _file_error(path, "an OpenDocument spreadsheet: save it as an Excel .xlsx workbook",
                              "es una hoja OpenDocument (.ods): guárdela como libro de Excel .xlsx",
                              "not_a_workbook") from None
        raise _not_xlsx(path, exc) from None

    def lines():
        try:
            sheet = book.worksheets[0]
            sheet.reset_dimensions()  # some programs write a wrong dimension: read every row there is
            yield from enumerate(sheet.iter_rows(values_only=True), 1)
        except Exception as exc:  # a broken sheet inside a good zip
            raise _not_xlsx(path, exc) from None
        finally:
            book.close()

    return lines()


def _xls(data: bytes, path: str):
    try:
        import xlrd
    except ImportError:
        raise _file_error(path, "reading an .xls workbook needs xlrd; save it as .xlsx or CSV",
                          "leer un libro .xls necesita xlrd; guárdelo como .xlsx o CSV") from None
    try:
        book = xlrd.open_workbook(file_contents=data)
        sheet = book.sheet_by_index(0)
    except Exception as exc:  # xlrd raises XLRDError, CompDocError, struct errors for a broken file
        raise _file_error(path, "not an Excel .xls workbook: %s" % exc, "no es un libro de Excel .xls",
                          "not_a_workbook") from None

    def value(cell):
        if cell.ctype == xlrd.XL_CELL_DATE:
            try:
                return xlrd.xldate.xldate_as_datetime(cell.value, book.datemode)
            except (ValueError, OverflowError, xlrd.xldate.XLDateError):
                return cell.value
        if cell.ctype == xlrd.XL_CELL_BOOLEAN:
            return bool(cell.value)
        if cell.ctype == xlrd.XL_CELL_ERROR:
            return xlrd.error_text_from_code.get(cell.value, "#ERROR")
        return cell.value

    return ((n + 1, [value(cell) for cell in sheet.row(n)]) for n in range(sheet.nrows))


def _decoded(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")  # Excel in Spanish on Windows
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _separator(line: str) -> str:
    """The separator of a CSV file: whichever of , ; tab its header line holds most, outside quotes."""
    outside = re.sub(r'"[^"]*"', "", line)
    counts = {sep: outside.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _csv(data: bytes, path: str, excel_name: bool):
    if b"\x00" in data[:4096] and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        raise _file_error(path, "not an Excel workbook nor CSV text", "no es un libro de Excel ni un texto CSV",
                          "not_a_workbook")
    text = _decoded(data)
    first = next((line for line in text.splitlines() if line.strip(_SEPARATORS + " ")), "")
    if excel_name and not any(sep in first for sep in _SEPARATORS):
        kind = ".xls" if path.lower().endswith(".xls") else ".xlsx"
        raise _file_error(path, "not an Excel %s workbook (nor CSV text)" % kind, "no es un libro de Excel %s" % kind,
                          "not_a_workbook")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_separator(first))
    return enumerate(reader, 1)


def _lines(data: bytes, path: str):
    """(row number, cell values) of any form but TOML, told by the content."""
    name = path.lower()
    if data.startswith(_ZIP):
        return _xlsx(data, path)
    if data.startswith(_OLE2):
        return _xls(data, path)
    return _csv(data, path, name.endswith((".xlsx", ".xlsm", ".xls")))


def _toml(data: bytes, path: str, table: str):
    try:
        doc = tomllib.loads(_decoded(data))
    except tomllib.TOMLDecodeError as exc:
        raise _file_error(path, "not valid TOML: %s" % exc, "no es TOML válido: %s" % exc) from None
    entries = doc.get(table)
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise _file_error(path, "expected [[%s]] tables" % table, "se esperaban tablas [[%s]]" % table)
    header = list(dict.fromkeys(key for entry in entries for key in entry))

    def exact(value):  # a TOML integer is text the person typed: every digit is there
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    return iter([(0, header)] + [(n, [exact(entry.get(key)) for key in header])
                                 for n, entry in enumerate(entries, 1)])


# --- rows ---------------------------------------------------------------------------------------------------

def _normal(name: str) -> str:
    return " ".join(name.split()).lower()


def _header(path: str, number: int, cells: list, required, optional, aliases) -> list:
    """(index, column, header as written) of every named column; RowFileError when the header is unusable."""
    aliases = {_normal(k): v for k, v in (aliases or {}).items()}
    columns, problems = [], []
    for index, cell in enumerate(cells):
        written = _text(cell, [])
        if written:
            columns.append((index, aliases.get(_normal(written), _normal(written)), written))
    names = [column for _, column, _ in columns]
    header_problem = lambda code, en, es, value: problems.append(  # noqa: E731
        Problem(path, number or None, "header", Rule(code, en, es), value))
    missing = [name for name in required if name not in names]
    if missing:
        header_problem("missing_columns", "missing column(s) %s" % ", ".join(missing),
                       "faltan las columnas %s" % ", ".join(missing), None)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        header_problem("duplicate_columns", "column(s) named twice: %s" % ", ".join(twice),
                       "columnas con el mismo nombre: %s" % ", ".join(twice), ", ".join(twice))
    if optional is not None:
        known = tuple(required) + tuple(optional)
        unknown = [written for _, column, written in columns if column not in known]
        if unknown:
            header_problem("unknown_columns", "unknown column(s) %s (the columns are %s)" % (
                ", ".join(unknown), ", ".join(known)), "columnas desconocidas %s: corrija el nombre o quite la "
                "columna (las columnas son %s)" % (", ".join(unknown), ", ".join(known)), ", ".join(unknown))
    if problems:
        raise RowFileError(problems)
    return columns


def rows(source, table: str, required=(), optional=None, aliases=None, name: str | None = None,
         max_rows: int | None = None) -> list:
    """The data rows of a row file, each a Row (column -> text, .number, .problems, .headers).

    source is a path or the file's bytes (an upload); name is what messages call the file (the path by
    default) and, with bytes, says whether it is TOML (.toml). table is the TOML table name ([[customer]]).
    required columns must be in the header; with optional (a tuple), any other column is an error;
    aliases maps other header names to columns (any case). With max_rows, a file of more data rows (or of
    more than ten times as many rows, blank ones included) is refused once that many are read, never read
    to its end. RowFileError (its .problems) when the file or its header cannot be used."""
    if isinstance(source, (bytes, bytearray)):
        path, data = name or "archivo", bytes(source)
    else:
        path = name or os.fspath(source)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise _file_error(path, exc.strerror or str(exc), "no se pudo leer: %s" % (exc.strerror or exc),
                              "unreadable") from None
    lines = _toml(data, path, table) if path.lower().endswith(".toml") else _lines(data, path)
    header_number, header_cells = next(((n, cells) for n, cells in lines if any(_text(c, []) for c in cells)),
                                       (1, []))
    columns = _header(path, header_number, header_cells, required, optional, aliases)
    named = {index: column for index, column, _ in columns}
    headers = {column: written for _, column, written in columns}
    out: list = []
    unnamed: dict = {}
    for number, cells in lines:
        if max_rows is not None and (len(out) >= max_rows or number - header_number > 10 * max_rows):
            if any(_text(cell, []) for cell in cells) or number - header_number > 10 * max_rows:
                raise _file_error(path, "more than %d rows: split the file" % max_rows,
                                  "El archivo tiene más de %d filas; divídalo en archivos más pequeños" % max_rows,
                                  "too_many_rows")
        values, problems = {}, []
        for index, cell in enumerate(cells):
            lost: list = []
            text = _text(cell, lost)
            if index not in named:
                if text and optional is not None:
                    unnamed.setdefault(index, number)
                continue
            column = named[index]
            values[column] = text
            if lost:
                problems.append(Problem(path, number, column, LOST_DIGITS, text, headers[column]))
        if any(values.values()):
            out.append(Row({column: values.get(column, "") for column in headers}, number, problems, headers))
    if unnamed:
        letters = ", ".join(_column_letter(index) for index in sorted(unnamed))
        raise RowFileError([Problem(path, header_number or None, "header", Rule(
            "unnamed_column", "values under no header in column %s: name the column or clear it" % letters,
            "hay valores en la columna %s sin nombre en el encabezado: nómbrela o vacíela" % letters), letters)])
    return out


def read(source, table: str, required=(), optional=None, aliases=None, name: str | None = None,
         max_rows: int | None = None) -> tuple:
    """(rows(...), 2), the arguments those of rows(): for a caller of the older form. Number rows with
    row.number (blank rows count), not from the 2."""
    return rows(source, table, required, optional, aliases, name, max_rows), 2


def checked(path: str, table: str, required: tuple, check, unique: str, key, shown=repr, optional=None,
            aliases=None) -> tuple:
    """(items, problems) of a hand-kept table, every row checked before any is used.

    check(row, bad) -> item, where bad(column, rule) records a Problem on the row ("PATH row N: column:
    rule, got 'value'"; rule a Rule, or English text); a cell the reader refused already (LOST_DIGITS) is
    reported once, not again by the checker. A row whose key(item) repeats an earlier row's is reported
    under the column `unique` (shown(key) says which); an empty key is not compared (the row's own check
    reports it). RowFileError when the file or its header cannot be used."""
    found = rows(path, table, required, optional, aliases)
    name = path if isinstance(path, str) else os.fspath(path)
    problems: list = []
    items: list = []
    seen: dict = {}
    for row in found:
        problems.extend(row.problems)
        refused = {problem.column for problem in row.problems}

        def bad(column, rule, row=row, refused=refused):
            if column not in refused:
                refused.add(column)
                problems.append(Problem(name, row.number, column, rule, row.get(column, ""),
                                        row.headers.get(column)))

        item = check(row, bad)
        identity = key(item)
        if identity in seen:
            problems.append(Problem(name, row.number, unique, Rule(
                "repeated", "%s is also on row %d" % (shown(identity), seen[identity]),
                "%s ya está en la fila %d" % (shown(identity), seen[identity])), header=row.headers.get(unique)))
        elif identity:
            seen[identity] = row.number
        items.append(item)
    if not found:
        problems.append(Problem(name, None, None, Rule("no_rows", "no %ss" % table, "no hay filas de datos")))
    return items, problems


def template(table) -> bytes:
    """An .xlsx holding the header row of a kind of row file (a Table, or its kind: customer, charge, meter,
    channel), every column formatted as text so Excel keeps identifiers and PANs digit for digit."""
    import openpyxl
    from openpyxl.styles import Font

    table = tables()[table] if isinstance(table, str) else table
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = table.kind
    sheet.append(list(table.columns))
    for index, column in enumerate(table.columns):
        letter = _column_letter(index)
        sheet.column_dimensions[letter].number_format = "@"
        sheet.column_dimensions[letter].width = max(12, len(column) + 2)
        sheet.cell(1, index + 1).font = Font(bold=True)
        sheet.cell(1, index + 1).number_format = "@"
    sheet.freeze_panes = "A2"
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()
