from django.http import HttpRequest

from cs_platform.roles import is_manager


def roles(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {"is_manager": bool(user and user.is_authenticated and is_manager(user))}
