"""The web pages: the visitors' chat page at /, the staff sign-in at /signin, the staff page at
/staff, the editors' page at /editor, and the chat widget's script at /widget.js for other sites to embed.

Static files only; answers, notes and names are rendered as text by the pages' scripts. Security
headers (the Content-Security-Policy and the rest) are set for every response by api/security.py.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.errors import NotFound

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html")


@router.get("/")
def chat_page() -> FileResponse:
    return _page("index.html")


@router.get("/signin")
def signin_page() -> FileResponse:
    return _page("signin.html")


@router.get("/staff")
def staff_page() -> FileResponse:
    """The page itself is public (it holds no data); it asks /api/auth/me and sends a stranger to /signin."""
    return _page("staff.html")


@router.get("/editor")
def editor_page() -> FileResponse:
    """Public like /staff (no data in it): it asks /api/auth/me, sends a stranger to /signin and
    shows nothing to an account that is not an editor's or an administrator's."""
    return _page("editor.html")


@router.get("/widget.js")
def widget_script() -> FileResponse:
    """The address other sites embed: stable, whatever /static/ is rearranged into later.

    Served here, not redirected, so one request loads it; api/security.py lets other origins load it.
    """
    path = STATIC / "widget.js"
    if not path.is_file():
        raise NotFound("The chat widget is not installed on this service.")
    return FileResponse(path, media_type="text/javascript")
