"""Shared dependencies of the routes, as typed aliases."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import Forbidden, Unauthorized
from api.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_role(*roles: str):
    def check(request: Request, runtime: RuntimeDep) -> str:
        token = _bearer(request)
        role = runtime.store.role_for(token) if token else None
        if role is None:
            raise Unauthorized("A valid token is needed: send 'Authorization: Bearer <token>'.",
                               headers={"WWW-Authenticate": "Bearer"})
        if role not in roles:
            raise Forbidden(f"This needs the role {' or '.join(roles)}; your token is for {role}.")
        return role

    return check


StaffRole = Annotated[str, Depends(require_role("staff", "editor", "admin"))]
EditorRole = Annotated[str, Depends(require_role("editor", "admin"))]
