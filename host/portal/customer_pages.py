"""The customer's routes of the information platform (SEC, Anexo 1, sections 3.2, 4 and 5): a Cliente's and a
Cliente EG's own pages, and the Usuario SEC's search and every customer's pages.

Who may see what is decided here, once, in _customer(): a cliente or eg account sees only its own customer
(anything else, even a number that does not exist, is 403, so the answer says nothing of other customers), an
EG's pages need an eg or sec account and a customer with generation, the SEC sees every customer. Bills and
documents are then looked up under that customer only, so another's number or file name is simply not found.
The store is used from the event loop's thread (the SQLite connection belongs to it): routes are async.
"""

import re
import urllib.parse

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from opsm.host import report
from opsm.host.portal import customer_views as views
from opsm.host.portal import pdf, web
from opsm.host.portal.page import Page
from opsm.host.store.supplies import CHARGE_MONTHS, INJECTION_MONTHS

CUSTOMERS = ("cliente", "eg", "sec")  # the profiles with customer pages: the public's account has none
SEARCH_LIMIT = 100


def _customer(request, generation: bool = False) -> tuple:
    """(account, customer_general) of the customer in the path that this account may see; generation: an EG page."""
    account = web.require(request, *CUSTOMERS)
    store = web.store(request)
    customer_id = store.customer_of_number(request.path_params["number"])
    if account["profile"] != "sec" and (customer_id is None or customer_id != account["customer_id"]):
        raise web.Answer(web.message(request, "Acceso denegado", "Solo puede ver la información de su suministro.",
                                     403))
    if customer_id is None:
        raise web.Answer(web.message(request, "Cliente no encontrado", "No hay un cliente con ese número.", 404))
    general = store.customer_general(customer_id)
    if generation and not views.shows_generation(general, account["profile"]):
        if account["profile"] == "cliente":
            raise web.Answer(web.message(request, "Acceso denegado", "Esta información es de los clientes EG.", 403))
        raise web.Answer(web.message(request, "Sin generación", "El cliente no tiene equipamiento de generación.",
                                     404))
    return account, general


def _download(data: bytes, file_name: str) -> Response:
    """A PDF to save. A document's name is the distributor's and may hold any character: the header gives it in
    UTF-8 (RFC 6266 filename*) after a plain ASCII one for older browsers."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", file_name)
    disposition = 'attachment; filename="%s"' % plain
    if plain != file_name:
        disposition += "; filename*=UTF-8''%s" % urllib.parse.quote(file_name, safe="")
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": disposition})


# --- every customer's ---------------------------------------------------------------------------------------------

async def own(request):
    """/cliente: the signed-in customer's pages, or the SEC's search."""
    account = web.require(request, *CUSTOMERS)
    if account["profile"] == "sec":
        return RedirectResponse("/sec/clientes", status_code=303)
    general = web.store(request).customer_general(account["customer_id"] or "")
    if general is None:  # an account whose customer left the register
        return web.message(request, "Cliente no encontrado", "Su cuenta no tiene un suministro asociado.", 404)
    return RedirectResponse(views.url(general), status_code=303)


async def index(request):
    account, general = _customer(request)
    return web.show(request, views.index(general, account["profile"]))


async def general_info(request):
    _, general = _customer(request)
    return web.show(request, views.general_info(general))


async def technical_info(request):
    _, general = _customer(request)
    return web.show(request, views.technical_info(general, web.store(request).customer_technical(
        general["customer_id"])))


async def charges(request):
    account, general = _customer(request)
    months = web.store(request).customer_months(general["customer_id"], count=CHARGE_MONTHS)
    return web.show(request, views.charges(general, months, views.shows_generation(general, account["profile"])))


# --- an EG's ------------------------------------------------------------------------------------------------------

async def injection(request):
    _, general = _customer(request, generation=True)
    months = web.store(request).customer_months(general["customer_id"], count=INJECTION_MONTHS)
    return web.show(request, views.consumption_and_injection(general, months))


async def bills(request):
    """The newest bills and annexes, and the search of one by its number (?numero=): found, it opens."""
    _, general = _customer(request, generation=True)
    store, customer_id = web.store(request), general["customer_id"]
    wanted = request.query_params.get("numero", "").strip()
    if wanted and store.customer_bill(customer_id, wanted):
        return RedirectResponse(views.url(general, "boletas", wanted), status_code=303)
    page = views.bills(general, store.customer_bills(customer_id, "suministro"),
                       store.customer_bills(customer_id, "inyeccion"))
    return web.show(request, page, status=404 if wanted else 200, above="customer_bill_search.html",
                    wanted=wanted, action=views.url(general, "boletas"))


async def bill(request):
    """The stored PDF of the bill or annex, or a page of its data when the distributor loaded none."""
    _, general = _customer(request, generation=True)
    found = web.store(request).customer_bill(general["customer_id"], request.path_params["bill"])
    if found is None:
        return web.message(request, "Documento no encontrado", "El cliente no tiene un documento con ese número.",
                           404)
    if found["pdf"] is not None:
        return _download(found["pdf"], "%s-%s.pdf" % (found["kind"], found["number"]))
    return web.show(request, views.bill(general, found))


async def histories(request):
    _, general = _customer(request, generation=True)
    return web.show(request, views.histories(general))


async def reading_history(request):
    _, general = _customer(request, generation=True)
    months = web.store(request).customer_months(general["customer_id"], count=CHARGE_MONTHS)
    return _download(pdf.page_pdf(views.reading_history(general, months)),
                     "historial-lecturas-%s.pdf" % general["client_number"])


async def billing_history(request):
    _, general = _customer(request, generation=True)
    store, customer_id = web.store(request), general["customer_id"]
    page = views.billing_history(general, store.customer_months(customer_id, count=CHARGE_MONTHS),
                                 store.customer_bills(customer_id, "suministro", CHARGE_MONTHS),
                                 store.customer_bills(customer_id, "inyeccion", CHARGE_MONTHS))
    return _download(pdf.page_pdf(page), "historial-facturacion-%s.pdf" % general["client_number"])


async def remanentes(request):
    _, general = _customer(request, generation=True)
    store = web.store(request)
    found = store.customer_remanentes(general["customer_id"])
    try:
        shown = int(request.query_params.get("pagina", "1"))
    except ValueError:
        shown = 0
    if not 1 <= shown <= views.remanente_pages(found):
        return web.message(request, "Página no encontrada", "Esa página de remanentes no existe.", 404)
    return web.show(request, views.remanentes(general, found, store.generation_contract(general["customer_id"]),
                                              shown), below="customer_paging.html", shown=shown,
                    pages=views.remanente_pages(found))


async def meter(request):
    _, general = _customer(request, generation=True)
    store = web.store(request)
    readout = report.register_rows(store, general["device_id"], "es") if general["device_id"] else []
    return web.show(request, views.meter(general, readout, store.customer_registers(general["customer_id"])))


async def documents(request):
    _, general = _customer(request, generation=True)
    store, customer_id = web.store(request), general["customer_id"]
    technical = store.customer_technical(customer_id)
    transformer = store.transformer(technical["transformer"]) if technical["transformer"] else None
    return web.show(request, views.documents(general, store.customer_documents(customer_id),
                                             store.generation_contract(customer_id), transformer))


async def document(request):
    _, general = _customer(request, generation=True)
    found = web.store(request).customer_document(general["customer_id"], request.path_params["file_name"])
    if found is None:
        return web.message(request, "Documento no encontrado", "El cliente no tiene un documento con ese nombre.",
                           404)
    return _download(found["pdf"], found["file_name"])


# --- the SEC's ----------------------------------------------------------------------------------------------------

async def search(request):
    """BUSCAR CLIENTE (fig. 20) and, with a filter and a text, DETALLE CLIENTES (fig. 21)."""
    web.require(request, "sec")
    by, text = request.query_params.get("por", ""), request.query_params.get("texto", "").strip()
    form = {"above": "sec_search.html", "searches": views.SEARCHES, "by": by or "numero", "text": text}
    if by not in views.SEARCHES or not text:
        return web.show(request, Page("Buscar cliente"), **form)
    found = web.store(request).find_customers(views.SEARCHES[by][0], text, limit=SEARCH_LIMIT)
    return web.show(request, views.search_results(by, text, found, SEARCH_LIMIT), **form)


ROUTES = [
    Route("/cliente", own),
    Route("/sec/clientes", search),
    Route("/clientes/{number}", index),
    Route("/clientes/{number}/general", general_info),
    Route("/clientes/{number}/tecnica", technical_info),
    Route("/clientes/{number}/consumos", charges),
    Route("/clientes/{number}/inyecciones", injection),
    Route("/clientes/{number}/boletas", bills),
    Route("/clientes/{number}/boletas/{bill}", bill),
    Route("/clientes/{number}/historial", histories),
    Route("/clientes/{number}/historial/lecturas.pdf", reading_history),
    Route("/clientes/{number}/historial/facturacion.pdf", billing_history),
    Route("/clientes/{number}/remanentes", remanentes),
    Route("/clientes/{number}/medidor", meter),
    Route("/clientes/{number}/documentos", documents),
    Route("/clientes/{number}/documentos/{file_name}", document),
]
