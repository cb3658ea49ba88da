from vod.common.v1 import event_pb2 as _event_pb2
from vod.recommendations.v1 import recommendations_pb2 as _recommendations_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeedbackRecorded(_message.Message):
    __slots__ = ("meta", "profile", "title", "kind", "watched_fraction")
    META_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    profile: str
    title: str
    kind: _recommendations_pb2.FeedbackKind
    watched_fraction: float
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., profile: _Optional[str] = ..., title: _Optional[str] = ..., kind: _Optional[_Union[_recommendations_pb2.FeedbackKind, str]] = ..., watched_fraction: _Optional[float] = ...) -> None: ...
