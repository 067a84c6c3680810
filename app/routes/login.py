"""Signing in from a browser: the token typed once into a form, then kept in a cookie.

With `SPYGLASS_TOKEN` set, `app.auth.TokenAuth` sends a browser that lacks the token here,
with the page it asked for as `next`. A right token sets the `spyglass_token` cookie (HttpOnly,
so no script can read it; SameSite=Strict, so no other site's request carries it) and goes back
to `next`, which must be a path on this site: anything else would make the form an open
redirect. The form is plain HTML and needs no script. Without a token setting there is nothing
to sign in to, and these routes only send the browser on.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app import auth
from app.routes.pages import templates

router = APIRouter(include_in_schema=False)
# A token and a path fit many times over; a bigger body is not this form's.
MAX_FORM_BYTES = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
WRONG_TOKEN = "That is not the token this collector was started with (SPYGLASS_TOKEN)."
NO_TOKEN = "Enter the token this collector was started with (SPYGLASS_TOKEN)."


def safe_next(target: str) -> str:
    """`target` when it is a path on this site, else "/".

    A browser reads `//host` and `/\\host` as another site, and drops tabs and newlines before
    reading, so anything with a backslash or a control character is refused along with
    schemes and hosts."""
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _required_token(request: Request) -> bytes | None:
    token = request.app.state.settings.token
    secret = token.get_secret_value() if token is not None else ""
    return secret.encode() if secret else None


def _form(request: Request, target: str, message: str | None, status: int) -> Response:
    headers = {"cache-control": "no-store"}
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="spyglass"'
    return templates.TemplateResponse(
        request,
        "login.html",
        {"next": target, "message": message},
        status_code=status,
        headers=headers,
    )


def _refuse(request: Request, status: int, message: str) -> Response:
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


async def _read_form(request: Request) -> dict[str, str] | Response:
    """The posted fields (the first value of each), or the response that refuses the body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        return _refuse(request, 415, f"The sign-in form is sent as {FORM_TYPE}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return _refuse(request, 413, "That form is too large to be the sign-in form.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=20
        )
    except (UnicodeDecodeError, ValueError):
        return _refuse(request, 400, "That form could not be read.")
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


@router.get("/login")
def login_form(request: Request) -> Response:
    target = safe_next(request.query_params.get("next", "/"))
    if _required_token(request) is None:
        return RedirectResponse(target, status_code=303)
    return _form(request, target, None, 200)


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await _read_form(request)
    if isinstance(fields, Response):
        return fields
    target = safe_next(fields.get("next", "/"))
    expected = _required_token(request)
    if expected is None:
        return RedirectResponse(target, status_code=303)
    token = fields.get("token", "")
    if not token:
        return _form(request, target, NO_TOKEN, 401)
    if not auth.token_matches(token.encode(), expected):
        return _form(request, target, WRONG_TOKEN, 401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.COOKIE_NAME,
        auth.cookie_value(token),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(auth.LOGIN_PATH, status_code=303)
    response.delete_cookie(
        auth.COOKIE_NAME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
