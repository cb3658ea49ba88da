from vod.common.v1 import event_pb2 as _event_pb2
from vod.licensing.v1 import licensing_pb2 as _licensing_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LicenseAudited(_message.Message):
    __slots__ = ("meta", "audit")
    META_FIELD_NUMBER: _ClassVar[int]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    audit: _licensing_pb2.LicenseAudit
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., audit: _Optional[_Union[_licensing_pb2.LicenseAudit, _Mapping]] = ...) -> None: ...
