"""The Público profile's pages (SEC, Anexo 1, 2.3 to 2.5), open to every signed-in account: the search by
location (REGION > COMUNA > SUBESTACION > ALIMENTADOR > TRANSFORMADOR, each list loaded from the one before),
its grids and the detail of a substation, a feeder (with its KMZ plan and the search of its poles, spans and
equipment) and a transformer; the simple transformer search (placa transformador, placa poste or N° de
cliente) and the VNR code search.

Each page is one Page (web.show draws it, its print layout and its PDF); the forms above it are drawn on
screen only.
"""

import datetime

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from opsm.host.portal import maps, web
from opsm.host.portal.page import MISSING, Feature, Fields, Grid, Map, Page, Text, day, number, quantity
from opsm.host.portal.plan import feeder_plan_kmz

PAGE_SIZE = 20  # rows of a search inside a feeder per page
LEVELS = ("region", "comuna", "subestacion", "alimentador", "transformador")  # the location form's fields
# A search inside a feeder: the form's choice -> (store kind, what the page calls it)
FEEDER_SEARCH = {"poste": ("pole", "postes"), "vano": ("span", "vanos"), "equipo": ("equipment", "equipos")}
_BREADCRUMB_URLS = {"region": "/red?region=%s", "comuna": "/red/comuna/%s", "substation": "/red/subestacion/%s",
                    "feeder": "/red/alimentador/%s"}
_FEEDER_KINDS = {"alimentador": "Alimentador", "sub-alimentador": "Sub-alimentador"}


# --- what the pages write --------------------------------------------------------------------------------------

def _text(value) -> str:
    return MISSING if value is None or value == "" else str(value)


def _location(item: dict) -> str:
    """The Anexo's "Ubicación (coordenada x, coordenada y, datum, zona)", as the distributor gave it."""
    if item.get("x") is None:
        return maps.location(item["lon"], item["lat"]) if item.get("lon") is not None else MISSING
    return "x %s m, y %s m, %s, zona %s" % (number(item["x"]), number(item["y"]), item["datum"], item["zone"])


def _trail(breadcrumb: list, last: str) -> tuple:
    """REGION1 > COMUNA1 > ... > `last`, each parent a link to its page."""
    return tuple((step["name"], _BREADCRUMB_URLS[step["level"]] % step["id"]) for step in breadcrumb) + ((last, None),)


def _listing(title: str, rows: list, url: str, extra: tuple = ()) -> Grid:
    """Id and name of each element, both linking to `url` % id; extra: (column, label, url) of more links."""
    return Grid(title, ("Id", "Nombre") + tuple(column for column, _, _ in extra),
                tuple((row["id"], row["name"]) + tuple(label for _, label, _ in extra) for row in rows),
                tuple((url % row["id"], url % row["id"]) + tuple(link % row["id"] for _, _, link in extra)
                      for row in rows))


def _demands(demands: list, monthly: bool) -> Grid:
    """The 12 newest months' minimum and maximum demand, newest first: "12/2019" (a feeder, as the Anexo draws
    it) or "1 DIC 2019" (a transformer)."""
    def when(month: str) -> str:
        year, index = month.split("-")
        return "%s/%s" % (index, year) if monthly else day(datetime.date(int(year), int(index), 1))

    return Grid("12 últimas demandas", ("Fecha", "Mínimas (kW)", "Máximas (kW)"),
                tuple((when(d["month"]), number(d["min_kw"], 1), number(d["max_kw"], 1)) for d in demands))


def _lines(kind: str, name: str, geometry) -> list:
    """Map features of a LineString or MultiLineString (none without a geometry)."""
    if not geometry:
        return []
    if geometry["type"] == "MultiLineString":
        return [Feature(kind, name, {"type": "LineString", "coordinates": part}) for part in geometry["coordinates"]]
    return [Feature(kind, name, geometry)]


def _point(kind: str, item: dict) -> list:
    if item.get("lon") is None:
        return []
    return [Feature(kind, item.get("name") or item.get("id") or item.get("plate"),
                    {"type": "Point", "coordinates": [item["lon"], item["lat"]]})]


def _found(request, item, what: str):
    """The item; a 404 page naming `what` when there is none."""
    if item is None:
        raise web.Answer(web.message(request, "No encontrado", "%s no existe." % what, 404))
    return item


# --- the search by location (2.3) -------------------------------------------------------------------------------

def _choices(store, chosen: dict) -> list:
    """Per level of LEVELS: (name, label, options [(value, text)], the value chosen). A level's options come from
    the one chosen above it; a choice that is not among its options is dropped, with those below."""
    loaders = (lambda _: [(r["cut"], r["name"]) for r in store.regions()],
               lambda region: [(c["cut"], c["name"]) for c in store.comunas(region)],
               lambda comuna: [(s["id"], s["name"]) for s in store.substations(comuna)],
               lambda substation: [(f["id"], f["name"]) for f in store.feeders(substation)],
               lambda feeder: [(t["id"], t["name"]) for t in store.transformers(feeder)])
    labels = ("Región", "Comuna", "Subestación", "Alimentador", "Transformador")
    levels, above = [], None
    for n, level in enumerate(LEVELS):
        options = loaders[n](above) if n == 0 or above else []
        value = chosen.get(level, "")
        value = value if value in {v for v, _ in options} else ""
        levels.append((level, labels[n], options, value))
        above = value
    return levels


def _chosen_from(breadcrumb: list, element: tuple = ()) -> dict:
    """The location form's choices that lead to an element: its breadcrumb and (level, id) of itself."""
    names = {"region": "region", "comuna": "comuna", "substation": "subestacion", "feeder": "alimentador"}
    chosen = {names[step["level"]]: step["id"] for step in breadcrumb}
    if element:
        chosen[element[0]] = element[1]
    return chosen


def _show_with_search(request, page: Page, chosen: dict, status: int = 200, **context):
    return web.show(request, page, status=status, above="location_form.html",
                    levels=_choices(web.store(request), chosen), **context)


async def location_search(request):
    """BUSCAR UBICACIÓN: without "buscar", the form again with the lists the choices load; with it, the grid or
    detail of the lowest level chosen."""
    web.require(request)
    levels = _choices(web.store(request), dict(request.query_params))
    chosen = {level: value for level, _, _, value in levels if value}
    if "buscar" in request.query_params:
        target = (("transformador", "/red/transformador/%s"), ("alimentador", "/red/alimentador/%s/transformadores"),
                  ("subestacion", "/red/subestacion/%s/alimentadores"), ("comuna", "/red/comuna/%s"))
        for level, url in target:
            if level in chosen:
                return RedirectResponse(url % chosen[level], status_code=303)
    named = [(label, dict(options)[value]) for _, label, options, value in levels if value]
    sections = (Text("Búsqueda por ubicación", (
        "Seleccione región, comuna, subestación, alimentador y transformador, hasta el nivel que busca, y "
        "presione BUSCAR." if "buscar" not in request.query_params else
        "Seleccione al menos una comuna para buscar.",)),)
    if named:
        sections += (Fields("Selección", tuple((label.upper(), text) for label, text in named)),)
    return web.show(request, Page("Buscar ubicación", (), sections), above="location_form.html", levels=levels)


async def comuna_substations(request):
    """DESPLIEGUE INFORMACIÓN SUBESTACIONES: a comuna's substations, with links to their detail and feeders."""
    web.require(request)
    store = web.store(request)
    comuna = _found(request, store.comuna(request.path_params["cut"]), "La comuna")
    grid = _listing("Subestaciones", store.substations(comuna["cut"]), "/red/subestacion/%s",
                    (("Alimentadores", "Ver alimentadores", "/red/subestacion/%s/alimentadores"),))
    page = Page("Subestaciones de %s" % comuna["name"],
                ((comuna["region_name"], "/red?region=%s" % comuna["region"]), (comuna["name"], None)), (grid,))
    return _show_with_search(request, page, {"region": comuna["region"], "comuna": comuna["cut"]})


async def substation_feeders(request):
    web.require(request)
    store = web.store(request)
    substation = _found(request, store.substation(request.path_params["id"]), "La subestación")
    grid = _listing("Alimentadores", substation["feeders"], "/red/alimentador/%s",
                    (("Transformadores", "Ver transformadores", "/red/alimentador/%s/transformadores"),))
    page = Page("Alimentadores de %s" % substation["name"],
                _trail(substation["breadcrumb"], substation["name"])[:-1] +
                ((substation["name"], "/red/subestacion/%s" % substation["id"]), ("Alimentadores", None)), (grid,))
    return _show_with_search(request, page, _chosen_from(substation["breadcrumb"], ("subestacion", substation["id"])))


async def feeder_transformers(request):
    web.require(request)
    store = web.store(request)
    feeder = _found(request, store.feeder(request.path_params["id"]), "El alimentador")
    grid = _listing("Transformadores", feeder["transformers"], "/red/transformador/%s")
    page = Page("Transformadores de %s" % feeder["name"],
                _trail(feeder["breadcrumb"], feeder["name"])[:-1] +
                ((feeder["name"], "/red/alimentador/%s" % feeder["id"]), ("Transformadores", None)), (grid,))
    return _show_with_search(request, page, _chosen_from(feeder["breadcrumb"], ("alimentador", feeder["id"])))


async def substation_detail(request):
    """DETALLE SUBESTACIÓN: id, name, its AT/MT transformers, its feeders and distribution transformers, map."""
    web.require(request)
    store = web.store(request)
    substation = _found(request, store.substation(request.path_params["id"]), "La subestación")
    fields = Fields("Subestación", (
        ("ID-SUBESTACIÓN", substation["id"]), ("NOMBRE", substation["name"]),
        ("TRANSFORMADORES AT/MT", ", ".join(substation["power_transformers"]) or MISSING),
        ("COMUNA", substation["comuna_name"]), ("UBICACIÓN", _location(substation))))
    features = _point("substation", substation)
    for row in substation["feeders"]:
        features += _lines("feeder", row["name"], store.feeder(row["id"])["geometry"])
    page = Page("Detalle subestación %s" % substation["id"], _trail(substation["breadcrumb"], substation["name"]), (
        fields, _listing("Alimentadores", substation["feeders"], "/red/alimentador/%s"),
        _listing("Transformadores", substation["transformers"], "/red/transformador/%s"),
        Map("Mapa georreferenciación", tuple(features))))
    return _show_with_search(request, page, _chosen_from(substation["breadcrumb"], ("subestacion", substation["id"])))


# --- a feeder ------------------------------------------------------------------------------------------------

def _pole_rows(rows: list) -> Grid:
    return Grid("", ("Placa poste", "Ubicación", "Tensión media / baja", "Código VNR"), tuple(
        (r["plate"], _location(r), "%s / %s" % (_text(r["medium_voltage"]), _text(r["low_voltage"])),
         _text(r["vnr_code"])) for r in rows))


def _span_rows(rows: list) -> Grid:
    return Grid("", ("Id vano", "Nodo origen", "Nodo destino", "Extensión", "Tipo conductor", "Código VNR",
                     "Capacidad conductor", "Fases"), tuple(
        (r["id"], r["origin"], r["destination"], quantity(r["length_m"], "m", 1),
         ", ".join(_text(r[key]) for key in ("material", "insulation")), _text(r["vnr_code"]),
         quantity(r["capacity_a"], "A"), number(r["phases"])) for r in rows))


def _equipment_rows(rows: list) -> Grid:
    return Grid("", ("Id equipo", "Tipo", "Capacidad", "Conexión", "Modo operación", "Consignas de tensión",
                     "Razón de transformación", "Código VNR"), tuple(
        (r["id"], _text(r["kind"]), quantity(r["capacity"], r["capacity_unit"] or ""), _text(r["connection"]),
         _text(r["operating_mode"]), _text(r["voltage_setpoints"]), _text(r["ratio"]), _text(r["vnr_code"]))
        for r in rows))


_RESULT_GRIDS = {"pole": _pole_rows, "span": _span_rows, "equipment": _equipment_rows}


def _feeder_search(store, feeder_id: str, params) -> tuple:
    """(the result Grid or None, the paging's context) of the search inside a feeder by pole, span or equipment."""
    choice, text = params.get("buscar_en", ""), params.get("texto", "").strip()[:60]
    page_number = int(params["pagina"]) if params.get("pagina", "").isdigit() and int(params["pagina"]) > 0 else 1
    context = {"search_choice": choice if choice in FEEDER_SEARCH else "poste", "search_text": text}
    if choice not in FEEDER_SEARCH:
        return None, context
    kind, plural = FEEDER_SEARCH[choice]
    rows = store.find_in_feeder(feeder_id, kind, text, limit=PAGE_SIZE + 1, offset=(page_number - 1) * PAGE_SIZE)
    grid = _RESULT_GRIDS[kind](rows[:PAGE_SIZE])
    title = "Información %s%s, página %d" % (plural, " con «%s»" % text if text else "", page_number)
    context.update(page_number=page_number, more=len(rows) > PAGE_SIZE)
    return Grid(title if rows else "%s: ninguno encontrado" % title, grid.columns, grid.rows), context


async def feeder_detail(request):
    """DETALLE ALIMENTADOR: its fields, transformers, plan (KMZ), 12 months of demand, map, and the search of its
    poles, spans and equipment."""
    web.require(request)
    store = web.store(request)
    feeder = _found(request, store.feeder(request.path_params["id"]), "El alimentador")
    plan = store.feeder_plan(feeder["id"])
    sub = feeder["kind"] == "sub-alimentador"
    fields = Fields("Alimentador", (
        ("ID-ALIMENTADOR", feeder["id"]), ("NOMBRE", feeder["name"]),
        ("TIPO", _FEEDER_KINDS.get(feeder["kind"], feeder["kind"])),
        ("CAPACIDAD", quantity(feeder["capacity_kva"], "kVA")),
        ("POTENCIA DE CORTOCIRCUITO EN CABECERA", quantity(feeder["short_circuit_kva"], "kVA")),
        ("DISTRIBUIDORA PROPIETARIA", _text(feeder["owner"]) if sub else "no aplica (alimentador propio)"),
        ("NODO DE DISTRIBUCIÓN", _text(feeder["purchase_node"]) if sub else "no aplica (alimentador propio)"),
        ("SUBESTACIÓN", "%s %s" % (feeder["substation"], feeder["substation_name"]))))
    kmz_url = "/red/alimentador/%s/plano.kmz" % feeder["id"]
    features = (_lines("feeder", feeder["name"], feeder["geometry"]) +
                _point("substation", store.substation(feeder["substation"]) or {}) +
                [f for t in plan["transformers"] for f in _point("transformer", t)] +
                [f for e in plan["equipment"] for f in _point("equipment", dict(e, name=e["id"]))])
    found, context = _feeder_search(store, feeder["id"], request.query_params)
    sections = (fields, _listing("Transformadores", feeder["transformers"], "/red/transformador/%s"),
                Grid("Plano", ("Plano del alimentador (KMZ)",), (("plano-%s.kmz" % web.file_name(feeder["id"]),),),
                     ((kmz_url,),)),
                _demands(feeder["demands"], monthly=True), Map("Mapa georreferenciación", tuple(features)))
    page = Page("Detalle alimentador %s" % feeder["id"], _trail(feeder["breadcrumb"], feeder["name"]),
                sections + ((found,) if found else ()))
    return web.show(request, page, below="feeder_search.html", feeder=feeder, **context)


async def feeder_plan(request):
    """The feeder's plan as KMZ: its spans with their lengths, protection and switching equipment, transformers."""
    web.require(request)
    plan = _found(request, web.store(request).feeder_plan(request.path_params["id"]), "El alimentador")
    return Response(feeder_plan_kmz(plan), media_type="application/vnd.google-earth.kmz", headers={
        "Content-Disposition": 'attachment; filename="plano-%s.kmz"' % web.file_name(plan["feeder"]["id"])})


# --- a transformer -------------------------------------------------------------------------------------------

def _transformer_fields(transformer: dict) -> Fields:
    return Fields("Transformador", (
        ("ID-TRANSFORMADOR", transformer["id"]), ("NOMBRE", transformer["name"]),
        ("CAPACIDAD", quantity(transformer["capacity_kva"], "kVA")), ("CONEXIÓN", _text(transformer["connection"])),
        ("TENSIÓN", _text(transformer["voltage"])), ("NÚMERO (PLACA POSTE)", _text(transformer["pole"])),
        ("TIPO", _text(transformer["kind"])), ("IDENTIFICADOR FASES", _text(transformer["phases"])),
        ("UBICACIÓN", _location(transformer)), ("CÓDIGO VNR", _text(transformer["vnr_code"]))))


def _transformer_sections(store, transformer: dict, parents: tuple) -> tuple:
    """The transformer's fields, `parents` (its feeder and substation), its demands and its map."""
    if transformer["monitored"]:
        demands = _demands(transformer["demands"], monthly=False)
    else:
        demands = Text("12 últimas demandas", ("Este transformador no cuenta con equipos de monitoreo del SD "
                                               "incorporados al SMMC: sus demandas no se miden.",))
    feeder = store.feeder(transformer["feeder"])
    features = (_lines("feeder", feeder["name"], feeder["geometry"]) +
                _point("substation", store.substation(transformer["substation"]) or {}) +
                _point("transformer", transformer))
    return (_transformer_fields(transformer),) + parents + (demands, Map("Mapa georreferenciación",
                                                                         tuple(features)))


async def transformer_detail(request):
    """DETALLE TRANSFORMADOR (2.3 III): every field, its feeder and substation, 12 months of demand, map."""
    web.require(request)
    store = web.store(request)
    transformer = _found(request, store.transformer(request.path_params["id"]), "El transformador")
    parents = Grid("Alimentador y subestación", ("Nivel", "Id", "Nombre"), (
        ("Alimentador", transformer["feeder"], transformer["feeder_name"]),
        ("Subestación", transformer["substation"], transformer["substation_name"])), (
        (None,) + ("/red/alimentador/%s" % transformer["feeder"],) * 2,
        (None,) + ("/red/subestacion/%s" % transformer["substation"],) * 2))
    page = Page("Detalle transformador %s" % transformer["id"],
                _trail(transformer["breadcrumb"], transformer["name"]),
                _transformer_sections(store, transformer, (parents,)))
    return _show_with_search(request, page, _chosen_from(transformer["breadcrumb"],
                                                         ("transformador", transformer["id"])))


async def transformer_search(request):
    """BUSCAR TRANSFORMADOR (2.4): by the transformer's plate, its pole's plate or a customer's N° de cliente;
    the 2.4.1 page of the transformer found."""
    web.require(request)
    store = web.store(request)
    text = request.query_params.get("identificador", "").strip()[:60]
    context = {"identifier": text}
    if not text:
        page = Page("Buscar transformador", (), (Text("Búsqueda de transformador", (
            "Ingrese la placa del transformador, la placa del poste o el número de cliente y presione BUSCAR.",)),))
        return web.show(request, page, above="transformer_form.html", **context)
    transformer = (store.transformer(text) or store.transformer_on_pole(text) or
                   store.transformer_of_customer(text))
    if transformer is None:
        page = Page("Buscar transformador", (), (Text("Sin resultados", (
            "Ningún transformador tiene la placa «%s», ni está en un poste con esa placa, ni abastece a un "
            "cliente con ese número." % text,)),))
        return web.show(request, page, status=404, above="transformer_form.html", **context)
    feeder = store.feeder(transformer["feeder"])
    parents = (Fields("Alimentador", (("ID-ALIMENTADOR", feeder["id"]), ("NOMBRE", feeder["name"]),
                                      ("CAPACIDAD", quantity(feeder["capacity_kva"], "kVA")),
                                      ("COMUNA", feeder["comuna_name"]))),
               Fields("Subestación", (("ID-SUBESTACIÓN", transformer["substation"]),
                                      ("NOMBRE", transformer["substation_name"]))))
    page = Page("Detalle transformador %s" % transformer["id"], (("Buscar transformador", "/transformador"),
                                                                 (text, None)),
                _transformer_sections(store, transformer, parents))
    return web.show(request, page, above="transformer_form.html", **context)


# --- VNR (2.5) -----------------------------------------------------------------------------------------------

VNR_LINES = (("recargos_1", "Recargos 1"), ("montaje", "Montaje"), ("stotal_1", "Stotal 1"), ("ing_gg", "ING + GG"),
             ("stotal_2", "Stotal 2"), ("int_int", "IntInt"), ("total", "Total Instalac s/derechos"))


async def vnr_search(request):
    """BUSCAR POR VNR: the code's cost lines (DESPLIEGUE CÓDIGO VNR)."""
    web.require(request)
    code = request.query_params.get("codigo", "").strip()[:40]
    found = web.store(request).vnr_code(code) if code else None
    if found:
        page = Page("Código VNR %s" % found["code"], (("Buscar por VNR", "/vnr"), (found["code"], None)), (
            Fields("Despliegue código VNR", (("CÓDIGO DE VNR", found["code"]),
                                             ("DESCRIPCIÓN", _text(found["description"]))) +
                   tuple((label, quantity(found[key], "$")) for key, label in VNR_LINES)),))
    else:
        page = Page("Buscar por VNR", (), (Text("Búsqueda por código VNR", (
            "No hay un código VNR «%s»." % code if code else "Ingrese el código VNR y presione BUSCAR.",)),))
    return web.show(request, page, status=404 if code and not found else 200, above="vnr_form.html", code=code)


ROUTES = [
    Route("/red", location_search),
    Route("/red/comuna/{cut}", comuna_substations),
    Route("/red/subestacion/{id}", substation_detail),
    Route("/red/subestacion/{id}/alimentadores", substation_feeders),
    Route("/red/alimentador/{id}", feeder_detail),
    Route("/red/alimentador/{id}/transformadores", feeder_transformers),
    Route("/red/alimentador/{id}/plano.kmz", feeder_plan),
    Route("/red/transformador/{id}", transformer_detail),
    Route("/transformador", transformer_search),
    Route("/vnr", vnr_search),
]
