"""Tables people keep by hand (inventories, customer registers, channel maps) as rows of text.

A CSV file with a header row, a TOML file with one [[table]] per row, or an Excel workbook
(.xlsx, first sheet, header row first). Every value comes back as stripped text, so one
checker per table validates all three forms alike; `first_row` is the number people see
for the first data row (a spreadsheet's header is row 1).
"""

import csv
import datetime
import tomllib


class RowFileError(ValueError):
    pass


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # spreadsheets store 4867 as 4867.0
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    return str(value).strip()


def _toml(path: str, table: str) -> list:
    with open(path, "rb") as f:
        try:
            doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise RowFileError("%s: not valid TOML: %s" % (path, exc)) from None
    rows = doc.get(table)
    if not isinstance(rows, list):
        raise RowFileError("%s: expected [[%s]] tables" % (path, table))
    return [{k: _text(v) for k, v in row.items()} for row in rows]


def _csv(path: str) -> tuple:
    with open(path, newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
        reader = csv.DictReader(f)
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
        return [name.strip() for name in reader.fieldnames or ()], rows


def _xlsx(path: str) -> tuple:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise RowFileError("%s: not an Excel .xlsx workbook: %s" % (path, exc)) from None
    try:
        lines = book.worksheets[0].iter_rows(values_only=True)
        header = [_text(v) for v in next(lines, ())]
        rows = []
        for line in lines:
            if all(v is None or _text(v) == "" for v in line):
                continue
            rows.append({name: _text(v) for name, v in zip(header, line) if name})
        return [name for name in header if name], rows
    finally:
        book.close()


def read(path: str, table: str, required: tuple) -> tuple:
    """(rows, first_row): rows as dicts of text; RowFileError when the file or its header is unusable."""
    try:
        if path.endswith(".toml"):
            return _toml(path, table), 1
        header, rows = _xlsx(path) if path.endswith(".xlsx") else _csv(path)
    except OSError as exc:
        raise RowFileError("%s: %s" % (path, exc.strerror)) from None
    except UnicodeDecodeError as exc:  # typically a CSV saved in Excel's regional encoding
        raise RowFileError("%s: must be UTF-8 text (a CSV from Excel: save as \"CSV UTF-8\"), byte %d is not" % (
            path, exc.start)) from None
    missing = [name for name in required if name not in header]
    if missing:
        raise RowFileError("%s: header: missing column(s) %s" % (path, ", ".join(missing)))
    return rows, 2


def checked(path: str, table: str, required: tuple, check, unique: str, key, shown=repr) -> tuple:
    """(items, errors) of a hand-kept table, every row checked before any is used.

    check(row, bad) -> item, where bad(field, rule) records "PATH row N: field: rule, got 'value'";
    a row whose key(item) repeats an earlier row's is reported under the field `unique` (shown(key)
    says which); an empty key is not compared (the row's own check reports it). RowFileError when
    the file or its header cannot be used."""
    rows, first = read(path, table, required)
    errors: list = []
    items, seen = [], {}
    for n, row in enumerate(rows, first):
        where = "%s row %d" % (path, n)

        def bad(field, rule, row=row, where=where):
            errors.append("%s: %s: %s, got %r" % (where, field, rule, row.get(field, "")))

        item = check(row, bad)
        identity = key(item)
        if identity in seen:
            errors.append("%s: %s: %s is also on row %d" % (where, unique, shown(identity), seen[identity]))
        elif identity:
            seen[identity] = n
        items.append(item)
    if not rows:
        errors.append("%s: no %ss" % (path, table))
    return items, errors
