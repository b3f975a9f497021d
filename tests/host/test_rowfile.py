"""host/rowfile.py: the one reader of the row files people keep (.xlsx, .xls, CSV, TOML), for the console and the CLI."""

import datetime
import io
import zipfile

import openpyxl
import pytest
import xlwt

from opsm.host import rowfile

PAN = "600727000000000009"
COLUMNS = ("customer_id", "name", "meter_pan")


def xlsx(rows) -> bytes:
    """A workbook with `rows` from row 1 (None leaves a cell empty, an empty tuple a blank row)."""
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def with_integer_cell(data: bytes, text: str) -> bytes:
    """The workbook with the text cell `text` turned into a number cell holding those digits exactly (what a
    program writing the integer, not Excel, stores)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                old = b' t="inlineStr"><is><t>%s</t></is></c>' % text.encode()
                assert old in content
                content = content.replace(old, b"><v>%s</v></c>" % text.encode())
            target.writestr(item, content)
    return out.getvalue()


def xls(rows) -> bytes:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Hoja1")
    day = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime.date):
                sheet.write(r, c, value, day)
            else:
                sheet.write(r, c, value)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def read(data: bytes, name: str, required=("customer_id",), optional=COLUMNS[1:], **kw):
    return rowfile.rows(data, "customer", required, optional=optional, name=name, **kw)


def problems(exc_info) -> list:
    return exc_info.value.problems


# --- forms of file: .xlsx, .xls, CSV in the encodings and separators Excel writes --------------------------

SPANISH = [("customer_id", "name"), ("11111111-1", "María Núñez"), ("22222222-2", "Peña")]
EXPECTED = [{"customer_id": "11111111-1", "name": "María Núñez"}, {"customer_id": "22222222-2", "name": "Peña"}]


@pytest.mark.parametrize("separator", [",", ";", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_csv_in_every_separator_and_encoding_excel_writes(separator, encoding):
    text = "".join(separator.join(row) + "\r\n" for row in SPANISH)
    assert read(text.encode(encoding), "usuarios.csv") == EXPECTED


def test_windows_1252_is_told_from_latin_1():
    # Excel in Spanish on Windows writes ’ (the apostrophe of O’Higgins) as byte 0x92, a control code in Latin-1
    text = "customer_id;region\r\n1;Región del Libertador General Bernardo O’Higgins – Rancagua\r\n"
    assert read(text.encode("cp1252"), "a.csv", optional=("region",)) == [
        {"customer_id": "1", "region": "Región del Libertador General Bernardo O’Higgins – Rancagua"}]


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_workbooks_of_both_excel_formats(kind):
    data = xlsx(SPANISH) if kind == "xlsx" else xls(SPANISH)
    assert read(data, "usuarios." + kind) == EXPECTED


@pytest.mark.parametrize("name", ["usuarios.xlsx", "upload.tmp", "usuarios.xls", "usuarios.csv"])
def test_the_kind_of_file_is_told_by_its_content_not_its_name(name):
    # the console stores an upload under a temporary name: a CSV or an .xls must not reach the .xlsx reader
    for data in (xlsx(SPANISH), xls(SPANISH), "customer_id;name\r\n11111111-1;María Núñez\r\n22222222-2;Peña\r\n"
                 .encode("cp1252")):
        assert read(data, name) == EXPECTED


def test_a_file_that_is_no_table_is_refused_by_name():
    with pytest.raises(rowfile.RowFileError) as refused:
        read(b"not a workbook", "x.xlsx")
    assert "x.xlsx: not an Excel .xlsx workbook" in str(refused.value)
    assert refused.value.text("es") == "x.xlsx: no es un libro de Excel .xlsx"
    assert refused.value.problems[0].code == "not_a_workbook"
    with pytest.raises(rowfile.RowFileError) as refused:
        read(b"PK\x03\x04 broken zip", "x.xlsx")
    assert "x.xlsx: not an Excel .xlsx workbook" in str(refused.value)


def test_a_path_is_read_like_bytes(tmp_path):
    path = tmp_path / "usuarios.xlsx"
    path.write_bytes("customer_id;name\r\n11111111-1;María Núñez\r\n22222222-2;Peña\r\n".encode("cp1252"))
    assert read(path.read_bytes(), str(path)) == rowfile.rows(str(path), "customer", ("customer_id",),
                                                              optional=("name",)) == EXPECTED
    with pytest.raises(rowfile.RowFileError) as missing:
        rowfile.rows(str(tmp_path / "nada.csv"), "customer", ())
    assert "nada.csv: No such file or directory" in str(missing.value)


# --- row numbers: the spreadsheet's own ---------------------------------------------------------------------

def test_row_numbers_count_blank_rows_and_the_header_in_every_form():
    table = [("customer_id", "name"), ("1", "Uno"), (), ("3", "Tres"), (), (), ("6", "Seis")]
    csv_text = "".join(",".join(row) + "\n" for row in table).encode()
    csv_semicolons = "".join(";".join(row or ("", "")) + "\r\n" for row in table).encode()  # Excel: ";" lines
    for data, name in ((xlsx(table), "a.xlsx"), (xls(table), "a.xls"), (csv_text, "a.csv"),
                       (csv_semicolons, "b.csv")):
        rows = read(data, name)
        assert [(row.number, row["customer_id"]) for row in rows] == [(2, "1"), (4, "3"), (7, "6")], name


def test_a_header_below_blank_rows_keeps_the_sheet_numbers():
    rows = read(xlsx([(), (None, None), ("customer_id", "name"), ("1", "Uno")]), "a.xlsx")
    assert [(row.number, dict(row)) for row in rows] == [(4, {"customer_id": "1", "name": "Uno"})]


def test_checked_names_the_true_row_after_blank_rows(tmp_path):
    path = tmp_path / "a.xlsx"
    path.write_bytes(xlsx([("customer_id", "name"), ("1", "Uno"), (), (), ("", "Sin identificación")]))

    def check(row, bad):
        if not row["customer_id"]:
            bad("customer_id", rowfile.Rule("required", "must not be empty", "no puede estar vacío"))
        return row["customer_id"]

    items, found = rowfile.checked(str(path), "customer", ("customer_id",), check, "customer_id", lambda item: item)
    assert found == ["%s row 5: customer_id: must not be empty, got ''" % path]
    assert (found[0].row, found[0].column, found[0].code) == (5, "customer_id", "required")
    assert found[0].text("es", path=False) == "fila 5, columna customer_id: no puede estar vacío"
    assert found[0].text("en", path=False) == "row 5: customer_id: must not be empty, got ''"


# --- numbers standing for identifiers -------------------------------------------------------------------------

def test_a_pan_typed_as_a_number_that_lost_digits_is_refused_with_a_clear_message():
    # Excel keeps 15 significant digits: an 18-digit PAN typed as a number is stored as 6.00727E+17
    for data, name in ((xlsx([COLUMNS, ("1", "Uno", float(PAN))]), "a.xlsx"),
                       (xls([COLUMNS, ("1", "Uno", float(PAN))]), "a.xls"),
                       (b"customer_id;name;meter_pan\r\n1;Uno;6,00727E+17\r\n", "a.csv"),
                       (b"customer_id,name,meter_pan\r\n1,Uno,6.00727E+17\r\n", "b.csv")):
        [row] = read(data, name)
        [problem] = row.problems
        assert (problem.row, problem.column, problem.code) == (2, "meter_pan", "lost_digits"), name
        assert "escriba el PAN como texto" in problem.text("es")
        assert "row 2: meter_pan: " in problem and "write it as text" in problem


def test_a_pan_that_lost_digits_is_not_also_reported_as_a_check_digit_error(tmp_path):
    from opsm.host.sts.keys import check_pan

    path = tmp_path / "a.xlsx"
    path.write_bytes(xlsx([COLUMNS, ("1", "Uno", float(PAN)), ("2", "Dos", "600727000000000001")]))

    def check(row, bad):
        try:
            check_pan(row["meter_pan"])
        except ValueError as exc:
            bad("meter_pan", rowfile.Rule("pan", str(exc), "PAN incorrecto"))
        return row["customer_id"]

    _, found = rowfile.checked(str(path), "customer", COLUMNS, check, "customer_id", lambda item: item)
    assert [(p.row, p.column, p.code) for p in found] == [(2, "meter_pan", "lost_digits"), (3, "meter_pan", "pan")]


def test_numbers_that_hold_their_digits_are_read_exactly():
    fifteen = 123456789012345.0  # 15 digits: Excel keeps them all
    for data, name in ((xlsx([COLUMNS, (fifteen, "Uno", None)]), "a.xlsx"), (xls([COLUMNS, (fifteen, "Uno")]), "a.xls")):
        [row] = read(data, name)
        assert (row["customer_id"], row.problems) == ("123456789012345", []), name


def test_sixteen_digit_numbers_are_refused_because_excel_rounds_them():
    # Excel stores 1234567890123456 typed in a cell as 1234567890123450 and writes those digits: an integer in the
    # file is no proof that it kept them, whatever program wrote it
    for data in (xlsx([COLUMNS, (1234567890123456.0, "Uno")]),
                 with_integer_cell(xlsx([COLUMNS, (PAN, "Uno")]), PAN)):
        [row] = read(data, "a.xlsx")
        assert [(p.column, p.code) for p in row.problems] == [("customer_id", "lost_digits")]


def test_cells_read_as_the_text_people_see():
    table = [("customer_id", "name", "meter_pan"), (4867, 0.29, datetime.date(2024, 3, 1)), (5.3, True, None)]
    assert [dict(row) for row in read(xlsx(table), "a.xlsx")] == [
        {"customer_id": "4867", "name": "0.29", "meter_pan": "2024-03-01"},
        {"customer_id": "5.3", "name": "yes", "meter_pan": ""}]
    assert [dict(row) for row in read(xls(table), "a.xls")] == [
        {"customer_id": "4867", "name": "0.29", "meter_pan": "2024-03-01"},
        {"customer_id": "5.3", "name": "yes", "meter_pan": ""}]


# --- columns --------------------------------------------------------------------------------------------------

def test_unknown_columns_are_named_not_dropped():
    with pytest.raises(rowfile.RowFileError) as refused:
        read(b"customer_id,name,contact,notas\n1,Uno,+56 9 1234,x\n", "a.csv")
    [problem] = problems(refused)
    assert (problem.row, problem.code, problem.value) == (1, "unknown_columns", "contact, notas")
    assert "a.csv: header: unknown column(s) contact, notas" in str(refused.value)
    assert "columnas desconocidas contact, notas" in problem.text("es")
    assert "customer_id, name, meter_pan" in problem.text("es")  # what it may say instead


def test_without_a_list_of_columns_others_are_not_checked():
    assert rowfile.rows(b"customer_id,notas\n1,x\n", "customer", ("customer_id",), name="a.csv") == [
        {"customer_id": "1", "notas": "x"}]


def test_a_column_twice_and_values_under_no_header_are_refused():
    with pytest.raises(rowfile.RowFileError) as refused:
        read(b"customer_id,name,Name\n1,Uno,Otro\n", "a.csv")
    assert [p.code for p in problems(refused)] == ["duplicate_columns"]
    assert "name" in str(refused.value)
    with pytest.raises(rowfile.RowFileError) as refused:
        read(xlsx([("customer_id", "name"), ("1", "Uno", None, "perdido")]), "a.xlsx")
    assert [(p.code, p.value) for p in problems(refused)] == [("unnamed_column", "D")]
    assert "columna D" in refused.value.text("es")


def test_missing_columns_are_named_in_both_languages():
    with pytest.raises(rowfile.RowFileError) as refused:
        read(b"customer_id;nombre\n1;Uno\n", "a.csv", required=("customer_id", "name"))
    assert "a.csv: header: missing column(s) name" in str(refused.value)
    assert refused.value.problems[0].code == "missing_columns"
    assert "faltan las columnas name" in refused.value.text("es")


def test_headers_match_in_any_case_and_through_aliases():
    aliases = {"identificación": "customer_id", "nombre": "name", "medidor": "meter_pan"}
    [row] = read(xlsx([(" Identificación ", "NOMBRE", "Medidor"), ("1", "Uno", PAN)]), "a.xlsx", aliases=aliases)
    assert dict(row) == {"customer_id": "1", "name": "Uno", "meter_pan": PAN}
    assert row.headers["customer_id"] == "Identificación"  # messages name the column as the file does
    [row] = read(xlsx([("Identificación", "Nombre", "Medidor"), ("1", "Uno", float(PAN))]), "a.xlsx",
                 aliases=aliases)
    assert row.problems[0].text("es", path=False).startswith("fila 2, columna Medidor: ")


def test_toml_rows_are_numbered_by_table_and_checked_for_unknown_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[customer]]\ncustomer_id = "1"\nname = "Uno"\n\n[[customer]]\ncustomer_id = 600727000000000009'
                    '\nname = "Dos"\n')
    rows = rowfile.rows(str(path), "customer", ("customer_id",), optional=COLUMNS[1:])
    assert [(row.number, row["customer_id"]) for row in rows] == [(1, "1"), (2, PAN)]
    path.write_text('[[customer]]\ncustomer_id = "1"\ncontact = "x"\n')
    with pytest.raises(rowfile.RowFileError) as refused:
        rowfile.rows(str(path), "customer", ("customer_id",), optional=COLUMNS[1:])
    assert "unknown column(s) contact" in str(refused.value)


# --- templates ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["customer", "charge", "meter", "channel"])
def test_a_template_per_kind_of_row_file_reads_back_as_its_header(kind):
    table = rowfile.tables()[kind]
    data = rowfile.template(kind)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [cell.value for cell in sheet[1]]
    assert header == list(table.required + table.optional)
    assert sheet.max_row == 1
    # every column is formatted as text, so Excel keeps a PAN or an identification digit for digit
    assert {sheet.column_dimensions[cell.column_letter].number_format for cell in sheet[1]} == {"@"}
    assert rowfile.rows(data, kind, table.required, optional=table.optional, name="plantilla.xlsx") == []
    assert [cell.value for cell in openpyxl.load_workbook(io.BytesIO(rowfile.template(table))).active[1]] == header


def test_the_customer_template_holds_every_column_the_register_reads():
    from opsm.host.customers import CUSTOMER_FIELDS

    table = rowfile.tables()["customer"]
    assert set(CUSTOMER_FIELDS) <= set(table.required + table.optional)
    assert "contact" not in table.required + table.optional


# --- every CLI row file goes through the reader -----------------------------------------------------------------

def test_the_inventory_names_unknown_columns_true_rows_and_speaks_spanish(tmp_path):
    from opsm.host import inventory

    header = ("device_id", "serial", "host", "port", "protocol", "timezone")
    path = tmp_path / "meters.csv"
    path.write_text(";".join(header + ("ubicacion",)) + "\nM1;OPS1;10.0.0.7;4059;dlms-tcp;UTC;sala\n")
    with pytest.raises(inventory.InventoryError) as refused:
        inventory.load(str(path))
    assert "unknown column(s) ubicacion" in str(refused.value)
    book = xls([header, ("M1", "OPS1", "10.0.0.7", 4059, "dlms-tcp", "UTC"), (), ("M2", "", "10.0.0.8", 70000,
                                                                               "dlms-tcp", "UTC")])
    path = tmp_path / "meters.xls"
    path.write_bytes(book)
    with pytest.raises(inventory.InventoryError) as refused:
        inventory.load(str(path))
    assert "row 4: serial: must not be empty" in str(refused.value)
    assert "row 4: port: must be a TCP port 1..65535, got '70000'" in str(refused.value)
    spanish = refused.value.text("es")
    assert "fila 4, columna serial: no puede estar vacío" in spanish
    assert "fila 4, columna port: debe ser un puerto TCP 1..65535; se recibió «70000»" in spanish


# --- uploads: bounded work ------------------------------------------------------------------------------------

def huge_xlsx(rows: int) -> bytes:
    """An .xlsx of `rows` data rows, small on disk (the sheet's XML written directly)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx([("customer_id",)]))) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                cut = data.index(b"</sheetData>")
                data = data[:cut] + b"<row><c><v>7</v></c></row>" * rows + data[cut:]
            target.writestr(item, data)
    return out.getvalue()


def test_a_file_of_more_rows_than_allowed_is_refused_without_reading_it_all():
    import time

    text = "customer_id\n" + "".join("%d\n" % n for n in range(1, 6))
    assert len(rowfile.rows(text.encode(), "customer", ("customer_id",), name="a.csv", max_rows=5)) == 5
    with pytest.raises(rowfile.RowFileError) as refused:
        rowfile.rows((text + "6\n").encode(), "customer", ("customer_id",), name="a.csv", max_rows=5)
    assert refused.value.problems[0].code == "too_many_rows"
    assert refused.value.problems[0].rule.es == "El archivo tiene más de 5 filas; divídalo en archivos más pequeños"
    started = time.monotonic()
    with pytest.raises(rowfile.RowFileError) as refused:
        rowfile.read(huge_xlsx(1_000_000), "customer", ("customer_id",), None, None, "millon.xlsx", 5000)
    # reading the whole sheet takes some 8 s; the reader stops at row 5002
    assert refused.value.problems[0].code == "too_many_rows" and time.monotonic() - started < 3


def test_read_gives_the_rows_for_a_caller_of_the_old_form(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"customer_id\n1\n\n3\n")
    rows, first = rowfile.read(str(path), "customer", ("customer_id",))
    assert first == 2 and [(row.number, row["customer_id"]) for row in rows] == [(2, "1"), (4, "3")]
    rows, _ = rowfile.read(b"Identificacion\n9\n", "customer", (), None, {"identificacion": "customer_id"}, "u.csv")
    assert rows == [{"customer_id": "9"}]
