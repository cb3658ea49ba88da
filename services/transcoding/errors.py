"""Domain errors the shared runtime does not define (DATA_LOSS, OUT_OF_RANGE); the runtime's
interceptor maps every `DomainError` subclass to a google.rpc.Status with its details."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2

from services.runtime.errors import DomainError

__all__ = ["DataLoss", "OutOfRange"]


@dataclass
class DataLoss(DomainError):
    """Bytes arrived damaged (checksum mismatch); `field` names the bad field."""

    field: str = ""
    reason: str = "DATA_LOSS"
    code = grpc.StatusCode.DATA_LOSS

    def details(self) -> list[object]:
        if not self.field:
            return []
        return [error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.message)
        ])]


@dataclass
class OutOfRange(DomainError):
    """A chunk extends past the declared size."""

    field: str = ""
    reason: str = "OUT_OF_RANGE"
    code = grpc.StatusCode.OUT_OF_RANGE

    def details(self) -> list[object]:
        return [error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.message)
        ])]
