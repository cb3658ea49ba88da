from vod.common.v1 import event_pb2 as _event_pb2
from vod.gateway.v1 import qoe_pb2 as _qoe_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QoeBatchRecorded(_message.Message):
    __slots__ = ("meta", "session", "batch_id", "profile", "title", "media_asset", "region_code", "edge", "events")
    META_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    EDGE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    session: str
    batch_id: str
    profile: str
    title: str
    media_asset: str
    region_code: str
    edge: str
    events: _containers.RepeatedCompositeFieldContainer[_qoe_pb2.QoeEvent]
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., session: _Optional[str] = ..., batch_id: _Optional[str] = ..., profile: _Optional[str] = ..., title: _Optional[str] = ..., media_asset: _Optional[str] = ..., region_code: _Optional[str] = ..., edge: _Optional[str] = ..., events: _Optional[_Iterable[_Union[_qoe_pb2.QoeEvent, _Mapping]]] = ...) -> None: ...
