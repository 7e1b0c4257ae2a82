"""One exception handler for the API: Django's ValidationError from services becomes a
400 naming the field, like DRF's own validation errors; database integrity and data errors
that slip past validation (a race on a unique key, a value out of the column's range)
become 409 / 400 instead of a 500."""

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .parsers import RequestTooLarge


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the data."
    default_code = "conflict"


def django_validation_detail(exc: DjangoValidationError) -> dict[str, list[str]]:
    """``{field: [messages]}`` for a Django ValidationError; errors that belong to no field
    are listed under ``non_field_errors`` as DRF does."""
    if hasattr(exc, "error_dict"):
        detail = exc.message_dict
        if NON_FIELD_ERRORS in detail:
            detail = {**detail}
            detail["non_field_errors"] = detail.pop(NON_FIELD_ERRORS)
        return detail
    return {"non_field_errors": exc.messages}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(detail=django_validation_detail(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, IntegrityError):
        exc = Conflict()
    elif isinstance(exc, DataError):
        exc = ValidationError(detail={"non_field_errors": ["A value is out of range."]})
    return exception_handler(exc, context)
