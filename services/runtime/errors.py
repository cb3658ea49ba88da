"""Domain errors and their mapping to the gRPC rich error model (google.rpc.Status).

Domain code raises these; one server interceptor turns them into a status with details. Messages
are for developers and must never carry internals (SQL, stack traces, hostnames).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

__all__ = [
    "ERROR_DOMAIN",
    "Aborted",
    "AlreadyExists",
    "DataLoss",
    "DomainError",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "internal_status",
]

ERROR_DOMAIN = "vodmesh.io"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: a dotted path (`title.availability[0].region_code`) and what is wrong."""

    field: str
    description: str


@dataclass
class DomainError(Exception):
    """Base of every error a domain raises on purpose."""

    message: str
    reason: str = "ERROR"
    metadata: Mapping[str, str] = field(default_factory=dict)

    code = grpc.StatusCode.UNKNOWN

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def details(self) -> list[object]:
        """Extra google.rpc detail messages beyond ErrorInfo."""
        return []

    def to_status(self) -> status_pb2.Status:
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN, metadata=dict(self.metadata)
        )
        packed = []
        for detail in [info, *self.details()]:
            any_msg = any_pb2.Any()
            any_msg.Pack(detail)  # type: ignore[arg-type]
            packed.append(any_msg)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=packed)


@dataclass
class InvalidArgument(DomainError):
    """The request is malformed; `violations` lists every bad field."""

    violations: tuple[FieldViolation, ...] = ()
    reason: str = "INVALID_ARGUMENT"
    code = grpc.StatusCode.INVALID_ARGUMENT

    @classmethod
    def of(cls, violations: Iterable[FieldViolation]) -> InvalidArgument:
        items = tuple(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in items[:5])
        more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
        return cls(message=f"invalid request: {summary}{more}", violations=items)

    @classmethod
    def for_field(cls, path: str, description: str) -> InvalidArgument:
        return cls.of([FieldViolation(path, description)])

    def details(self) -> list[object]:
        return [
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in self.violations
                ]
            )
        ]


@dataclass
class _ResourceError(DomainError):
    resource_type: str = ""
    resource_name: str = ""

    def details(self) -> list[object]:
        return [
            error_details_pb2.ResourceInfo(
                resource_type=self.resource_type, resource_name=self.resource_name
            )
        ]


@dataclass
class NotFound(_ResourceError):
    """The named resource does not exist."""

    reason: str = "NOT_FOUND"
    code = grpc.StatusCode.NOT_FOUND


@dataclass
class AlreadyExists(_ResourceError):
    """A resource with that identity exists already."""

    reason: str = "ALREADY_EXISTS"
    code = grpc.StatusCode.ALREADY_EXISTS


@dataclass
class Aborted(_ResourceError):
    """A concurrency conflict, e.g. an etag that no longer matches: re-read and retry."""

    reason: str = "ABORTED"
    code = grpc.StatusCode.ABORTED


@dataclass
class FailedPrecondition(DomainError):
    """The system is not in a state the request needs; `violations` are (type, subject, why)."""

    violations: tuple[tuple[str, str, str], ...] = ()
    reason: str = "FAILED_PRECONDITION"
    code = grpc.StatusCode.FAILED_PRECONDITION

    def details(self) -> list[object]:
        return [
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=t, subject=s, description=d
                    )
                    for t, s, d in self.violations
                ]
            )
        ]


@dataclass
class _FieldError(DomainError):
    """An error about one request field, reported as a BadRequest field violation."""

    field: str = ""

    def details(self) -> list[object]:
        if not self.field:
            return []
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=self.field, description=self.message
        )
        return [error_details_pb2.BadRequest(field_violations=[violation])]


@dataclass
class OutOfRange(_FieldError):
    """A value past a declared bound, e.g. a chunk beyond the declared file size."""

    reason: str = "OUT_OF_RANGE"
    code = grpc.StatusCode.OUT_OF_RANGE


@dataclass
class DataLoss(_FieldError):
    """Bytes arrived damaged (a checksum mismatch); `field` names the bad field."""

    reason: str = "DATA_LOSS"
    code = grpc.StatusCode.DATA_LOSS


@dataclass
class PermissionDenied(DomainError):
    """The caller may not do this."""

    reason: str = "PERMISSION_DENIED"
    code = grpc.StatusCode.PERMISSION_DENIED


@dataclass
class Unauthenticated(DomainError):
    """No or bad credentials."""

    reason: str = "UNAUTHENTICATED"
    code = grpc.StatusCode.UNAUTHENTICATED


@dataclass
class ResourceExhausted(DomainError):
    """A quota or limit is reached; retry_after_s tells when to try again, if known."""

    retry_after_s: float | None = None
    reason: str = "RESOURCE_EXHAUSTED"
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def details(self) -> list[object]:
        if self.retry_after_s is None:
            return []
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(self.retry_after_s * 1000))
        return [error_details_pb2.RetryInfo(retry_delay=delay)]


@dataclass
class Unavailable(DomainError):
    """A dependency is down; safe to retry later."""

    retry_after_s: float = 1.0
    reason: str = "UNAVAILABLE"
    code = grpc.StatusCode.UNAVAILABLE

    def details(self) -> list[object]:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(self.retry_after_s * 1000))
        return [error_details_pb2.RetryInfo(retry_delay=delay)]


def internal_status(request_id: str) -> status_pb2.Status:
    """The status for an unexpected failure: nothing about the cause, only what to quote."""
    message = "internal error"
    if request_id:
        message += f"; quote request id {request_id} when reporting it"
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(
            reason="INTERNAL", domain=ERROR_DOMAIN, metadata={"request_id": request_id}
        )
    )
    return status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=[info])
