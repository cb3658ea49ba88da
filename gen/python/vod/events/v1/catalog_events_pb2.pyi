from vod.catalog.v1 import catalog_pb2 as _catalog_pb2
from vod.common.v1 import event_pb2 as _event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TitlePublished(_message.Message):
    __slots__ = ("meta", "title")
    META_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    title: _catalog_pb2.Title
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., title: _Optional[_Union[_catalog_pb2.Title, _Mapping]] = ...) -> None: ...

class TitleUpdated(_message.Message):
    __slots__ = ("meta", "title", "changed_fields")
    META_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    title: _catalog_pb2.Title
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., title: _Optional[_Union[_catalog_pb2.Title, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class TitleRemoved(_message.Message):
    __slots__ = ("meta", "name")
    META_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    name: str
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...
