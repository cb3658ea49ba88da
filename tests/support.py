"""Helpers for asserting on the gRPC rich error model."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class Details:
    code: grpc.StatusCode
    message: str
    reason: str = ""
    violations: dict[str, str] = field(default_factory=dict)
    resource_name: str = ""
    preconditions: list[str] = field(default_factory=list)


def details_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> Details:
    """Decode google.rpc.Status details from a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    out = Details(code=error.code(), message=error.details() or "")
    if status is None:
        return out
    for any_msg in status.details:
        for cls in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.ResourceInfo,
            error_details_pb2.PreconditionFailure,
        ):
            if any_msg.Is(cls.DESCRIPTOR):
                msg = cls()
                any_msg.Unpack(msg)
                if isinstance(msg, error_details_pb2.ErrorInfo):
                    out.reason = msg.reason
                elif isinstance(msg, error_details_pb2.BadRequest):
                    out.violations = {v.field: v.description for v in msg.field_violations}
                elif isinstance(msg, error_details_pb2.ResourceInfo):
                    out.resource_name = msg.resource_name
                else:
                    out.preconditions = [v.type for v in msg.violations]
    return out
