"""Server reflection at the front door: what `grpcurl list` and `buf curl` see from outside.

Every service answers reflection on its own port, but through Envoy the standard reflection path
is one path for the whole mesh. The front door routes it to the gateway, which answers from a
public view of the contracts: the descriptor set `scripts/gen` builds (the one Envoy's transcoder
reads), filtered by the access classes in the protos (`vod.common.v1.access`):

- a service is revealed when it has at least one PUBLIC or VIEWER method (what client apps call);
  services with only ADMIN or INTERNAL methods are not (`file_containing_symbol` answers
  NOT_FOUND for them, as for a name that does not exist);
- a revealed service keeps its routed methods (public, viewer, admin) and loses its INTERNAL
  ones, which have no route at the front door anyway;
- only the files a revealed service needs are served (its own file and what it imports).

Envoy rewrites `/grpc.reflection.v1.ServerReflection/` and `/grpc.reflection.v1alpha...` to the
`FRONT_PATHS` below, so the gateway's own reflection (its port, its services) stays what it was,
and sets `ROUTED_SERVICES_HEADER` to the services the front door routes: the view is narrowed to
those (a service in the contracts that no route reaches is not revealed). The header can only
narrow the view, never widen it. Both reflection versions are served; their messages are the
same on the wire, so v1 is answered with the v1alpha types grpcio-reflection ships.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection_pb2
from vod.common.v1 import access_pb2

from services.runtime.logs import get_logger

__all__ = [
    "DESCRIPTOR_ENV",
    "FRONT_PATHS",
    "HOST_SERVICE",
    "ROUTED_SERVICES_HEADER",
    "PublicView",
    "add_to_server",
    "public_file_set",
    "public_services",
]

_log = get_logger("gateway.reflection")

HOST_SERVICE = "vod.gateway.v1.GatewayService"
"""The front door routes reflection to the cluster of this service (the gateway)."""

FRONT_PATHS = {
    "/grpc.reflection.v1.ServerReflection/": "/grpc.reflection.front.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/": (
        "/grpc.reflection.front.v1alpha.ServerReflection/"
    ),
}
"""Standard reflection prefix at the front door -> the prefix the gateway serves its public
view on. (Under `grpc.reflection.` so the shared interceptor treats it like reflection.)"""

ROUTED_SERVICES_HEADER = "x-vod-routed-services"
"""Set by Envoy: comma-separated services the front door routes."""

DESCRIPTOR_ENV = "VOD_GATEWAY_REFLECTION_DESCRIPTOR"
"""Path of the descriptor set; defaults to the repository's gen/descriptor/vod.binpb."""

_DEFAULT_DESCRIPTOR = Path(__file__).resolve().parents[1] / "gen" / "descriptor" / "vod.binpb"
_REVEALING = frozenset({access_pb2.ACCESS_CLASS_PUBLIC, access_pb2.ACCESS_CLASS_VIEWER})
_METHOD = "ServerReflectionInfo"


def _access(method: descriptor_pb2.MethodDescriptorProto) -> int:
    return int(method.options.Extensions[access_pb2.access])


def _full_name(file: descriptor_pb2.FileDescriptorProto, name: str) -> str:
    return f"{file.package}.{name}" if file.package else name


def public_services(fds: descriptor_pb2.FileDescriptorSet) -> tuple[str, ...]:
    """Services of `fds` with at least one PUBLIC or VIEWER method, sorted."""
    return tuple(
        sorted(
            _full_name(file, service.name)
            for file in fds.file
            for service in file.service
            if any(_access(m) in _REVEALING for m in service.method)
        )
    )


def public_file_set(
    fds: descriptor_pb2.FileDescriptorSet, services: Iterable[str] | None = None
) -> descriptor_pb2.FileDescriptorSet:
    """The files the public view serves, in `fds`' (dependency) order: every revealed service
    (`public_services`, narrowed to `services` when given) without its INTERNAL methods, the
    files they import, and no other service."""
    revealed = set(public_services(fds))
    if services is not None:
        revealed &= set(services)
    stripped: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    roots: list[str] = []
    for file in fds.file:
        copy = descriptor_pb2.FileDescriptorProto()
        copy.CopyFrom(file)
        del copy.service[:]
        for service in file.service:
            if _full_name(file, service.name) not in revealed:
                continue
            kept = copy.service.add()
            kept.CopyFrom(service)
            del kept.method[:]
            kept.method.extend(
                m for m in service.method if _access(m) != access_pb2.ACCESS_CLASS_INTERNAL
            )
        if copy.service:
            roots.append(copy.name)
        stripped[copy.name] = copy
    needed: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        pending.extend(stripped[name].dependency)
    return descriptor_pb2.FileDescriptorSet(file=[f for f in stripped.values() if f.name in needed])


class _MethodAwareReflection(reflection_aio.ReflectionServicer):
    """grpcio-reflection over a pool whose `FindFileContainingSymbol` knows services, messages,
    fields and enums but not methods: `grpcurl describe pkg.Service.Method` asks for the file
    containing the method, which is its service's file."""

    def _file_containing_symbol(self, request, fully_qualified_name):  # type: ignore[no-untyped-def]
        service, _, method = fully_qualified_name.rpartition(".")
        try:
            self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            try:
                found = self._pool.FindServiceByName(service)
            except KeyError:
                found = None
            if found is not None and method in found.methods_by_name:
                fully_qualified_name = service
        return super()._file_containing_symbol(request, fully_qualified_name)


class PublicView:
    """A descriptor pool holding only the public file set, and the reflection servicer on it."""

    def __init__(
        self, fds: descriptor_pb2.FileDescriptorSet, services: Iterable[str] | None = None
    ) -> None:
        files = public_file_set(fds, services)
        self.pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            self.pool.AddSerializedFile(file.SerializeToString())
        self.service_names = tuple(
            sorted(_full_name(f, s.name) for f in files.file for s in f.service)
        )
        self.servicer = _MethodAwareReflection(self.service_names, pool=self.pool)


class _FrontReflection:
    """Picks the view for a call (narrowed by Envoy's header), built once per header value."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self._fds = fds
        self._full = PublicView(fds)
        self._narrowed: dict[frozenset[str], PublicView] = {}

    def view(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> PublicView:
        routed = next(
            (v for k, v in metadata or () if k == ROUTED_SERVICES_HEADER and isinstance(v, str)),
            None,
        )
        if routed is None:
            return self._full
        key = frozenset(s.strip() for s in routed.split(",") if s.strip())
        if key not in self._narrowed:
            if len(self._narrowed) >= 16:  # the header comes from Envoy: one value in practice
                self._narrowed.clear()
            self._narrowed[key] = PublicView(self._fds, key)
        return self._narrowed[key]

    async def info(
        self,
        requests: AsyncIterator[reflection_pb2.ServerReflectionRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[reflection_pb2.ServerReflectionResponse]:
        view = self.view(context.invocation_metadata())
        async for response in view.servicer.ServerReflectionInfo(requests, context):
            yield response

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        handler = grpc.stream_stream_rpc_method_handler(
            self.info,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        return [
            grpc.method_handlers_generic_handler(prefix.strip("/"), {_METHOD: handler})
            for prefix in FRONT_PATHS.values()
        ]


def load_descriptor_set(path: Path | str) -> descriptor_pb2.FileDescriptorSet:
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(Path(path).read_bytes())
    return fds


def add_to_server(server: grpc.aio.Server, descriptor_path: Path | str | None = None) -> bool:
    """Serve the public view on `server` (before it starts), from `descriptor_path` or
    `$VOD_GATEWAY_REFLECTION_DESCRIPTOR` or the repository's descriptor set. A missing or
    unreadable set is logged and leaves the front door without reflection (UNIMPLEMENTED):
    reflection is a developer convenience, never a reason for the gateway not to start."""
    path = Path(descriptor_path or os.environ.get(DESCRIPTOR_ENV) or _DEFAULT_DESCRIPTOR)
    try:
        fds = load_descriptor_set(path)
    except Exception as exc:  # OSError, or protobuf's DecodeError (an implementation detail)
        _log.warning("reflection.unavailable", descriptor=str(path), error=str(exc))
        return False
    front = _FrontReflection(fds)
    server.add_generic_rpc_handlers(front.handlers())
    _log.info("reflection.public", services=list(front.view(None).service_names))
    return True
