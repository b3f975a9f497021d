"""What the host's web apps (the vending console, the information platform) share: the security headers every
response carries, the Content-Security-Policy of a page (scripts and styles only with the page's nonce),
cookies the browser keeps to this site, and a POST's form read within a size limit.
"""

from starlette.datastructures import MutableHeaders
from starlette.requests import Request

MAX_FORM_BYTES = 64 * 1024            # a form without a file
_DRAIN_BYTES = 32 * 1024 * 1024       # a longer body is not read to its end
_CSP = ("default-src 'none'; script-src 'nonce-{0}'; style-src 'nonce-{0}'; connect-src 'self'; img-src {1}; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_CSP_NO_PAGE = "default-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
_HEADERS = (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"))


def page_csp(nonce: str, image_sources: tuple = ()) -> str:
    """A page's policy; image_sources: origins its images may also come from (a map's tile server)."""
    return _CSP.format(nonce, " ".join(("'self'",) + tuple(image_sources)))


def set_cookie(request, response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def secure(headers) -> None:
    for name, value in _HEADERS:
        headers[name] = value
    if "content-security-policy" not in headers:
        headers["Content-Security-Policy"] = _CSP_NO_PAGE


class SecurityHeaders:
    """Adds the security headers to every response (a page's own CSP, with its nonce, stays)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                secure(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, sending)


async def read_form(request, limit: int):
    """The POST's form, or None when its body is over `limit` bytes (read on to its end, up to a bound, so the
    browser gets the answer rather than a reset connection)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _DRAIN_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_BYTES:
            break
    if size > limit:
        return None
    body = b"".join(chunks)

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, replay).form(max_files=1, max_fields=64, max_part_size=MAX_FORM_BYTES)
