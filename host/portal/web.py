"""What every page of the information platform uses: who is signed in, who may see a page, and a Page drawn as
HTML, as its print layout (?imprimir=1) or as its PDF (?guardar=pdf).

A route builds one Page (host/portal/page.py) and hands it to show(): the screen, the paper and the file
are drawn from the same object, with the filters of the same query string, so they cannot disagree.
"""

import secrets
import unicodedata
import urllib.parse

import jinja2
from starlette.responses import HTMLResponse, RedirectResponse, Response

from opsm.host import webkit
from opsm.host.portal import charts, maps, pdf
from opsm.host.portal.page import Bars, Fields, Grid, Map, Text

TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("opsm.host.portal", "templates"), autoescape=True)
SESSION_COOKIE = "opsm_portal_session"
_SECTIONS = {Fields: "fields", Grid: "grid", Bars: "bars", Map: "map", Text: "text"}


class Answer(Exception):
    """Stops a route with a response ready (a redirect to the login page, a 403 page); the app returns it."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


def portal(request):
    """The Portal (host/portal/app.py) of the server the request came to: its store, sessions, robot checks and
    settings."""
    return request.state.portal


def store(request):
    """The Store the app was created with."""
    return portal(request).store


def account(request) -> dict | None:
    """The signed-in account: id, name, profile ("publico", "cliente", "eg", "sec"), customer_id; None when
    nobody is signed in (or the session ended)."""
    if not hasattr(request.state, "account"):
        session = portal(request).session(request.cookies.get(SESSION_COOKIE, ""))
        request.state.session = session
        request.state.account = session["account"] if session else None
    return request.state.account


def csrf(request) -> str:
    """The session's CSRF token, for a POST form's hidden "csrf" field ("" without a session)."""
    account(request)
    return request.state.session["csrf"] if request.state.session else ""


def require(request, *profiles) -> dict:
    """The signed-in account when its profile is one of `profiles` (any profile when none is given). Without an
    account: a 303 to the login page, which comes back here after (?siguiente=); with another profile: 403."""
    found = account(request)
    if found is None:
        back = request.url.path + ("?" + request.url.query if request.url.query else "")
        raise Answer(RedirectResponse("/ingresar?" + urllib.parse.urlencode({"siguiente": back}), status_code=303))
    if profiles and found["profile"] not in profiles:
        raise Answer(message(request, "Acceso denegado", "Su perfil no tiene acceso a esta página.", 403))
    return found


def render(request, template: str, status: int = 200, headers: dict | None = None, **context) -> HTMLResponse:
    """A template of host/portal/templates (they extend base.html) with the account, the CSRF token and the
    nonce its scripts and styles need under the Content-Security-Policy."""
    nonce = secrets.token_urlsafe(16)
    context.update(request=request, account=account(request), csrf=csrf(request), nonce=nonce)
    response = HTMLResponse(TEMPLATES.get_template(template).render(**context), status_code=status,
                            headers=headers)
    response.headers["Content-Security-Policy"] = webkit.page_csp(nonce, portal(request).image_sources)
    return response


def message(request, title: str, text: str, status: int) -> HTMLResponse:
    return render(request, "message.html", status=status, title=title, text=text)


def show(request, page, status: int = 200, above: str = "", below: str = "", **context) -> Response:
    """The Page as HTML; ?imprimir=1: its print layout; ?guardar=pdf: its PDF as an attachment. above, below:
    templates drawn before and after the page's sections on screen only (a search form, paging), with
    `context`."""
    if request.query_params.get("guardar") == "pdf":
        base = "%s://%s" % (request.url.scheme, request.url.netloc)
        return Response(pdf.page_pdf(page, base_url=base), status_code=status, media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="%s.pdf"' % file_name(page.title)})
    settings = portal(request)
    sections = []
    for n, section in enumerate(page.sections):
        kind = _SECTIONS[type(section)]
        drawn = {"kind": kind, "section": section}
        if kind == "bars":
            drawn.update(svg=charts.bars_svg(section, ident="bars%d" % n), table=section.table())
        elif kind == "map":
            drawn["svg"] = maps.map_svg(section, tile_url=settings.tile_url or "",
                                        attribution=settings.tile_attribution, ident="map%d" % n)
        sections.append(drawn)
    printing = request.query_params.get("imprimir") == "1"
    return render(request, "page.html", status=status, page=page, sections=sections, printing=printing,
                  print_url=_with(request, imprimir="1", guardar=None),
                  save_url=_with(request, guardar="pdf", imprimir=None), above=above, below=below, **context)


def _with(request, **changes) -> str:
    """This page's URL, its query string kept, with `changes` (None: left out)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, v) for k, v in changes.items() if v is not None]
    return request.url.path + "?" + urllib.parse.urlencode(params)


def file_name(title: str) -> str:
    """A file name for a header from a title: "Detalle subestación SE-1" -> "detalle-subestacion-se-1"."""
    ascii_only = unicodedata.normalize("NFKD", title.lower()).encode("ascii", "ignore").decode()
    kept = "".join(c if c.isalnum() else "-" for c in ascii_only)
    return "-".join(part for part in kept.split("-") if part)[:80] or "pagina"
