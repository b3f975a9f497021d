"""The console's words, Spanish first (the platform it replaces speaks Spanish), English on request.

Messages of the rules keep the seed's own wording ("Ya existe un usuario con la
identificacion ingresada", "se han completado N usuarios", ...), so people who used the
old platform recognise them. A rule that says no raises a Problem: a message key and the
values it shows, put into words in the language of the page (and in English by str(), for
the command line and the log). Errors of the modules the console calls (registry, key file,
row files) speak English "field: rule" and may name server paths: foreign() maps the ones a
person can meet to messages here, and anything else to a generic message, never the text.
"""

import re

from opsm.host import rowfile

LANGUAGES = ("es", "en")

MESSAGES = {
    "es": {
        "app.title": "Consola de recargas OPSM",
        "nav.invoices": "Comprobantes", "nav.recharge": "Nuevo comprobante", "nav.customers": "Usuarios",
        "nav.reports": "Generar reporte", "nav.users": "Cuentas", "nav.product": "Producto",
        "nav.licence": "Licencia", "nav.meters": "Medidores", "nav.logout": "Salir",
        "account.title": "Cambiar contraseña", "account.current": "Contraseña actual",
        "account.new": "Contraseña nueva (10 caracteres o más)", "account.wrong": "La contraseña actual no es correcta",
        "login.title": "Iniciar sesión", "login.email": "Correo electrónico", "login.password": "Contraseña",
        "login.submit": "Ingresar", "login.wrong": "Correo o contraseña incorrectos",
        "forbidden": "No tiene permisos para ver esta página",
        "csrf": "El formulario expiró; vuelva a intentarlo",
        "invoice.number": "Factura", "invoice.customer": "Cliente", "invoice.id": "Identificación",
        "invoice.code": "Código", "invoice.vat": "IVA", "invoice.subtotal": "Subtotal", "invoice.total": "Total",
        "invoice.date": "Fecha", "invoice.kwh": "Cant. (kWh)", "invoice.price": "P. unitario",
        "invoice.vendor": "Vendedor", "invoice.description": "Descripción", "invoice.terms": "Términos",
        "invoice.title": "Factura de venta", "invoice.none": "Aún no hay comprobantes",
        "invoice.note": "Nota: recuerde ingresar el código en su respectivo medidor",
        "invoice.receipts": "Imprimir comprobante", "invoice.letter": "Carta", "invoice.80mm": "Térmica 80 mm",
        "invoice.58mm": "Térmica 58 mm", "invoice.phone": "Celular", "invoice.meter": "Medidor",
        "recharge.title": "Nuevo comprobante", "recharge.find": "Buscar", "recharge.amount": "Valor a pagar",
        "recharge.submit": "Recargar", "recharge.done": "Recarga exitosa, código:",
        "recharge.no_customer": "La identificación ingresada no se encuentra asociada a ningún usuario",
        "recharge.no_meter": "El usuario no tiene un medidor asignado",
        "customer.title": "Usuarios", "customer.add": "Agregar manualmente", "customer.import": "Importar desde archivo Excel",
        "customer.file": "Seleccione archivo", "customer.template": "Descargar plantilla (.xlsx)", "customer.edit": "Modificar usuario", "customer.search": "Buscar por identificación o nombre", "customer.save": "Guardar",
        "customer.customer_id": "Identificación", "customer.name": "Cliente", "customer.phone": "Celular",
        "customer.email": "Correo electrónico", "customer.address": "Dirección residencia",
        "customer.meter_pan": "Medidor (PAN)", "customer.row": "Fila", "customer.result": "Resultado",
        "customer.added": "Agregado correctamente", "customer.updated": "Actualizado correctamente",
        "customer.exists": "Ya existe un usuario con la identificacion ingresada",
        "customer.limit": "se han completado %s usuarios",
        "customer.not_yours": "No tiene permisos para modificar los datos de este usuario",
        "customer.unknown": "La identificación ingresada no se encuentra asociada a ningún usuario",
        "licence.expired": "La licencia ha expirado el dia %s",
        "licence.invoices": "ha excedido la cantidad de comprobantes asignadas",
        "licence.holder": "Titular", "licence.expires_at": "Vence (AAAA-MM-DD HH:MM)",
        "licence.max_customers": "Máximo de usuarios", "licence.invoice_first": "Primera factura",
        "licence.invoice_last": "Última factura", "licence.left": "Comprobantes restantes",
        "product.description": "Descripción", "product.price": "Precio unitario kWh (IVA incluido)",
        "product.vat": "IVA %", "product.currency": "Moneda", "seller.name": "Empresa",
        "seller.address": "Dirección", "seller.contact": "Contacto", "seller.terms": "Términos",
        "saved": "Guardado",
        "report.title": "Reporte de ventas", "report.by": "Filtrar por", "report.all": "Todo",
        "report.vendor": "Facturador", "report.customer": "Usuario", "report.from": "Fecha inicial",
        "report.to": "Fecha final", "report.run": "Consultar", "report.download": "Descargar",
        "report.count": "# Recargas", "report.total": "$ Total", "report.generated_by": "Generado por",
        "user.email": "Correo", "user.name": "Nombre", "user.role": "Rol", "user.password": "Contraseña",
        "user.add": "Agregar cuenta", "role.admin": "Administrador", "role.vendor": "Facturador",
        "meter.pan": "PAN", "meter.profile": "Perfil", "meter.sgc": "SGC", "meter.add": "Agregar medidor",
        "meter.key": "Llave de venta", "meter.base_year": "Fecha base", "meter.last_tid": "Último TID",
        "login.wait": "Demasiados intentos fallidos: espere %s s y vuelva a intentarlo",
        "login.busy": "El servidor está ocupado; vuelva a intentarlo en unos segundos",
        "session.ended": "La sesión terminó; vuelva a iniciar sesión",
        "user.state": "Estado", "user.active": "Activa", "user.locked": "Bloqueada", "user.lock": "Bloquear",
        "user.unlock": "Desbloquear", "user.lock_self": "No puede bloquear su propia cuenta",
        "user.exists": "Ya existe una cuenta con el correo %s", "user.unknown": "La cuenta no existe",
        "rule.email": "%s: debe ser una dirección de correo; se recibió «%s»",
        "rule.empty": "%s: no puede estar vacío", "rule.too_long": "%s: admite como máximo %s caracteres",
        "rule.identification": "%s: %s", "import.cell": "%s",
        "rule.role": "Rol: debe ser Administrador o Facturador",
        "rule.password": "La contraseña debe tener al menos %s caracteres",
        "rule.amount": "%s: debe ser un valor mayor que 0 con máximo 2 decimales, como 1500 o 1500.50; "
                       "se recibió «%s»",
        "rule.amount_max": "%s: debe ser menor que 1 000 000 000 000; se recibió «%s»",
        "rule.percent": "%s: debe ser un porcentaje de 0 a 99.99 con máximo 2 decimales; se recibió «%s»",
        "rule.date": "%s: debe ser una fecha AAAA-MM-DD; se recibió «%s»",
        "rule.datetime": "%s: debe tener la forma AAAA-MM-DD HH:MM; se recibió «%s»",
        "rule.whole": "%s: debe ser un número entero de 1 o más; se recibió «%s»",
        "rule.number": "%s: debe ser un número entero; se recibió «%s»",
        "rule.currency": "%s: debe ser un código ISO 4217 como COP; se recibió «%s»",
        "licence.range": "La última factura no puede ser menor que la primera",
        "label.expires_at": "Vence", "label.pan": "PAN del medidor",
        "report.no_account": "No hay una cuenta con el correo «%s»",
        "report.need_customer": "Escriba la identificación del usuario",
        "pan.digits": "PAN del medidor: debe tener 18 dígitos; se recibió «%s»",
        "pan.check_digit": "PAN del medidor: el dígito de control %s no es correcto (Luhn da %s)",
        "meter.exists": "El medidor %s ya está registrado", "meter.sgc_rule": "SGC: debe tener 6 dígitos",
        "meter.ti_rule": "TI: debe estar entre 0 y 99", "meter.krn_rule": "KRN: debe estar entre 1 y 9",
        "meter.base_year_rule": "Fecha base: debe ser 1993, 2014 o 2035",
        "meter.no_key": "No hay una llave de venta llamada «%s»",
        "recharge.unregistered": "El medidor %s no está registrado",
        "recharge.tid": "El medidor no admite más códigos con su fecha base: un administrador debe emitir un "
                        "cambio de llave",
        "recharge.openpaygo_max": "Un código OpenPAYGO lleva como máximo %s kWh",
        "recharge.duplicate": "No se emitió ningún código: el registro de medidores ya tiene ese código; avise al "
                              "administrador",
        "recharge.busy": "El registro de medidores está ocupado con otra venta; vuelva a intentarlo",
        "recharge.key_used": "Este formulario ya se usó para otra venta; abra «Nuevo comprobante» de nuevo",
        "recharge.masked": "Usuario registrado por otro facturador: confirme la identificación con su documento y el "
                           "medidor por sus últimos dígitos",
        "import.too_big": "El archivo supera el tamaño máximo de %s MB",
        "import.too_many_rows": "El archivo tiene más de %s filas; divídalo en archivos más pequeños",
        "import.failed": "No se pudo leer «%s»: %s", "import.not_workbook": "no es un libro de Excel .xlsx",
        "import.not_utf8": "un CSV debe estar en UTF-8 (en Excel: Guardar como «CSV UTF-8»)",
        "import.unreadable": "no tiene el formato esperado", "import.no_rows": "El archivo no tiene filas de usuarios",
        "request.too_big": "La solicitud es demasiado grande",
        "error.field": "Dato no válido: %s",
        "error.unknown": "No se pudo completar la operación; el detalle quedó en el registro del servidor",
        "error.internal": "Ocurrió un error interno; el detalle quedó en el registro del servidor",
        "error.not_found": "Página no encontrada", "error.method": "Método no permitido",
        "error.bad_request": "La solicitud no es válida",
    },
    "en": {
        "app.title": "OPSM vending console",
        "nav.invoices": "Invoices", "nav.recharge": "New recharge", "nav.customers": "Customers",
        "nav.reports": "Sales report", "nav.users": "Accounts", "nav.product": "Product",
        "nav.licence": "Licence", "nav.meters": "Meters", "nav.logout": "Log out",
        "account.title": "Change password", "account.current": "Current password",
        "account.new": "New password (10 characters or more)", "account.wrong": "The current password is wrong",
        "login.title": "Log in", "login.email": "E-mail", "login.password": "Password", "login.submit": "Log in",
        "login.wrong": "Wrong e-mail or password",
        "forbidden": "You may not see this page", "csrf": "The form expired; please try again",
        "invoice.number": "Invoice", "invoice.customer": "Customer", "invoice.id": "Identification",
        "invoice.code": "Code", "invoice.vat": "VAT", "invoice.subtotal": "Subtotal", "invoice.total": "Total",
        "invoice.date": "Date", "invoice.kwh": "Qty (kWh)", "invoice.price": "Unit price",
        "invoice.vendor": "Vendor", "invoice.description": "Description", "invoice.terms": "Terms",
        "invoice.title": "Sales invoice", "invoice.none": "No invoices yet",
        "invoice.note": "Note: enter the code on your meter", "invoice.receipts": "Print receipt",
        "invoice.letter": "Letter", "invoice.80mm": "Thermal 80 mm", "invoice.58mm": "Thermal 58 mm",
        "invoice.phone": "Mobile", "invoice.meter": "Meter",
        "recharge.title": "New recharge", "recharge.find": "Find", "recharge.amount": "Amount paid",
        "recharge.submit": "Recharge", "recharge.done": "Recharge done, code:",
        "recharge.no_customer": "No customer has this identification",
        "recharge.no_meter": "The customer has no meter assigned",
        "customer.title": "Customers", "customer.add": "Add by hand", "customer.import": "Import from an Excel file",
        "customer.file": "Choose file", "customer.template": "Download the template (.xlsx)", "customer.edit": "Edit customer", "customer.search": "Search by identification or name", "customer.save": "Save",
        "customer.customer_id": "Identification", "customer.name": "Customer", "customer.phone": "Mobile",
        "customer.email": "E-mail", "customer.address": "Address", "customer.meter_pan": "Meter (PAN)",
        "customer.row": "Row", "customer.result": "Result", "customer.added": "Added",
        "customer.updated": "Updated", "customer.exists": "A customer with this identification already exists",
        "customer.limit": "the licence's %s customers are used up",
        "customer.not_yours": "You may not change this customer's data",
        "customer.unknown": "No customer has this identification",
        "licence.expired": "The licence expired on %s",
        "licence.invoices": "the licence's invoice numbers are used up",
        "licence.holder": "Holder", "licence.expires_at": "Expires (YYYY-MM-DD HH:MM)",
        "licence.max_customers": "Maximum customers", "licence.invoice_first": "First invoice",
        "licence.invoice_last": "Last invoice", "licence.left": "Invoices left",
        "product.description": "Description", "product.price": "Price per kWh (VAT included)",
        "product.vat": "VAT %", "product.currency": "Currency", "seller.name": "Company",
        "seller.address": "Address", "seller.contact": "Contact", "seller.terms": "Terms", "saved": "Saved",
        "report.title": "Sales report", "report.by": "Filter by", "report.all": "All", "report.vendor": "Vendor",
        "report.customer": "Customer", "report.from": "From", "report.to": "To", "report.run": "Show",
        "report.download": "Download", "report.count": "# Recharges", "report.total": "$ Total",
        "report.generated_by": "Generated by",
        "user.email": "E-mail", "user.name": "Name", "user.role": "Role", "user.password": "Password",
        "user.add": "Add account", "role.admin": "Administrator", "role.vendor": "Vendor",
        "meter.pan": "PAN", "meter.profile": "Profile", "meter.sgc": "SGC", "meter.add": "Add meter",
        "meter.key": "Vending key", "meter.base_year": "Base date", "meter.last_tid": "Last TID",
        "login.wait": "Too many failed logins: wait %s s and try again",
        "login.busy": "The server is busy; try again in a few seconds",
        "session.ended": "The session ended; log in again",
        "user.state": "State", "user.active": "Active", "user.locked": "Locked", "user.lock": "Lock",
        "user.unlock": "Unlock", "user.lock_self": "You cannot lock your own account",
        "user.exists": "An account with e-mail %s already exists", "user.unknown": "No such account",
        "rule.email": "%s: must be an e-mail address, got '%s'",
        "rule.empty": "%s: must not be empty", "rule.too_long": "%s: must be at most %s characters",
        "rule.identification": "%s: %s", "import.cell": "%s",
        "rule.role": "Role: must be Administrator or Vendor",
        "rule.password": "The password must be at least %s characters",
        "rule.amount": "%s: must be more than 0 with at most 2 decimals, such as 1500 or 1500.50, got '%s'",
        "rule.amount_max": "%s: must be below 1 000 000 000 000, got '%s'",
        "rule.percent": "%s: must be a percentage from 0 to 99.99 with at most 2 decimals, got '%s'",
        "rule.date": "%s: must be a date YYYY-MM-DD, got '%s'",
        "rule.datetime": "%s: must be YYYY-MM-DD HH:MM, got '%s'",
        "rule.whole": "%s: must be a whole number of 1 or more, got '%s'",
        "rule.number": "%s: must be a whole number, got '%s'",
        "rule.currency": "%s: must be an ISO 4217 code such as COP, got '%s'",
        "licence.range": "The last invoice must not be below the first",
        "label.expires_at": "Expires", "label.pan": "Meter PAN",
        "report.no_account": "No account has e-mail '%s'",
        "report.need_customer": "Write the customer's identification",
        "pan.digits": "Meter PAN: must be 18 digits, got '%s'",
        "pan.check_digit": "Meter PAN: check digit %s is wrong (Luhn gives %s)",
        "meter.exists": "Meter %s is already registered", "meter.sgc_rule": "SGC: must be 6 digits",
        "meter.ti_rule": "TI: must be 0 to 99", "meter.krn_rule": "KRN: must be 1 to 9",
        "meter.base_year_rule": "Base date: must be 1993, 2014 or 2035",
        "meter.no_key": "No vending key is named '%s'",
        "recharge.unregistered": "Meter %s is not registered",
        "recharge.tid": "The meter takes no more codes on its base date: an administrator must issue a key change",
        "recharge.openpaygo_max": "An OpenPAYGO code carries at most %s kWh",
        "recharge.duplicate": "No code was issued: the meter registry already holds that code; tell the "
                              "administrator",
        "recharge.busy": "The meter registry is busy with another sale; try again",
        "recharge.key_used": "This form was already used for another sale; open New recharge again",
        "recharge.masked": "A customer registered by another vendor: check the identification against their "
                           "document and the meter by its last digits",
        "import.too_big": "The file is larger than the maximum of %s MB",
        "import.too_many_rows": "The file has more than %s rows; split it into smaller files",
        "import.failed": "Could not read '%s': %s", "import.not_workbook": "it is not an Excel .xlsx workbook",
        "import.not_utf8": "a CSV must be UTF-8 (in Excel: Save as \"CSV UTF-8\")",
        "import.unreadable": "it is not in the expected form", "import.no_rows": "The file has no customer rows",
        "request.too_big": "The request is too large",
        "error.field": "Invalid value: %s",
        "error.unknown": "The operation could not be completed; the details are in the server's log",
        "error.internal": "An internal error occurred; the details are in the server's log",
        "error.not_found": "Page not found", "error.method": "Method not allowed",
        "error.bad_request": "The request is not valid",
    },
}


class Label(str):
    """A message key shown where a value goes (a field's name in the page's language)."""


class Problem(ValueError):
    """What a rule said, for the person at the screen: a message key and the values it shows."""

    def __init__(self, key: str, *values):
        super().__init__(key, *values)
        self.key, self.values = key, values

    def __str__(self) -> str:
        return translate("en", self)


def _value(lang: str, value):
    """A value shown in a message, in `lang` when it has words of its own (the row reader's rules)."""
    if isinstance(value, (Label, Problem)):
        return translate(lang, value)
    if isinstance(value, rowfile.Rule):
        return value.es if lang == "es" else value.en
    if isinstance(value, rowfile.Problem):
        return value.text(lang, path=False)
    if isinstance(value, rowfile.RowFileError):  # the file is named by the message around it
        text = "; ".join(problem.text(lang, path=False) for problem in value.problems)
        return text[:1].lower() + text[1:]
    return value


def translate(lang: str, message) -> str:
    """`message` (a key, a Problem, or another module's ValueError: see foreign) in `lang`."""
    words = MESSAGES.get(lang, MESSAGES["es"])
    if isinstance(message, BaseException) and not isinstance(message, Problem):
        message = foreign(message)
    if not isinstance(message, Problem):
        return words.get(str(message), str(message))
    values = tuple(_value(lang, v) for v in message.values)
    text = words.get(message.key, message.key)
    return text % values if values else text


# (what another module's message says, the message here; groups are its values)
_FOREIGN = (
    (r"pan: must be 18 digits .*got '([^']*)'", "pan.digits"),
    (r"pan: check digit (\d) is wrong \(Luhn gives (\d)\)", "pan.check_digit"),
    (r"pan: meter (\d+) is already registered", "meter.exists"),
    (r"^sgc: ", "meter.sgc_rule"), (r"^ti: ", "meter.ti_rule"), (r"^krn: ", "meter.krn_rule"),
    (r"^base-date: ", "meter.base_year_rule"),
    (r"vending-key: no key named '([^']*)'", "meter.no_key"),
    (r"meter: no meter with PAN '(\d+)'", "recharge.unregistered"),
    (r"^(?:tid|count): meter \d+ already has", "recharge.duplicate"),
    (r"^registry: .* stayed locked", "recharge.busy"),
    (r"^tid: ", "recharge.tid"),
    (r"kwh: an OpenPAYGO token carries at most ([\d.]+) kWh", "recharge.openpaygo_max"),
    (r"not an Excel \.xlsx workbook", "import.not_workbook"),
    (r"must be UTF-8 text", "import.not_utf8"),
)
_FIELD = re.compile(r"([a-z][a-z_-]{0,30}): ")


def foreign(error: BaseException) -> Problem:
    """Another module's error as a Problem: a known message, else its field name (never a path or the text)."""
    if isinstance(error, Problem):
        return error
    text = str(error)
    for pattern, key in _FOREIGN:
        found = re.search(pattern, text)
        if found:
            return Problem(key, *found.groups())
    field = _FIELD.match(text)
    return Problem("error.field", field.group(1)) if field else Problem("error.unknown")


def chosen(choice: str | None, accept_language: str) -> str:
    """The page's language: the person's choice, else the first of the browser's (by weight) we speak, else Spanish."""
    if choice in LANGUAGES:
        return choice
    ranked = []
    for n, item in enumerate(accept_language.split(",")):
        tag, _, weight = item.strip().partition(";q=")
        try:
            q = float(weight) if weight else 1.0
        except ValueError:
            continue
        ranked.append((-q, n, tag.split("-")[0].strip().lower()))
    for _, _, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return "es"
