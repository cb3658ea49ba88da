from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from vod.common.v1 import access_pb2 as _access_pb2
from vod.common.v1 import validation_pb2 as _validation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RowKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_KIND_UNSPECIFIED: _ClassVar[RowKind]
    ROW_KIND_CONTINUE_WATCHING: _ClassVar[RowKind]
    ROW_KIND_TOP_PICKS: _ClassVar[RowKind]
    ROW_KIND_BECAUSE_YOU_WATCHED: _ClassVar[RowKind]
    ROW_KIND_TRENDING_NOW: _ClassVar[RowKind]
    ROW_KIND_NEW_RELEASES: _ClassVar[RowKind]
ROW_KIND_UNSPECIFIED: RowKind
ROW_KIND_CONTINUE_WATCHING: RowKind
ROW_KIND_TOP_PICKS: RowKind
ROW_KIND_BECAUSE_YOU_WATCHED: RowKind
ROW_KIND_TRENDING_NOW: RowKind
ROW_KIND_NEW_RELEASES: RowKind

class HomeItem(_message.Message):
    __slots__ = ("title", "display_name", "artwork_uri", "watched_fraction", "reason", "release_year", "maturity_rating", "genres", "synopsis", "duration_seconds")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ARTWORK_URI_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    SYNOPSIS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    title: str
    display_name: str
    artwork_uri: str
    watched_fraction: float
    reason: str
    release_year: int
    maturity_rating: str
    genres: _containers.RepeatedScalarFieldContainer[str]
    synopsis: str
    duration_seconds: float
    def __init__(self, title: _Optional[str] = ..., display_name: _Optional[str] = ..., artwork_uri: _Optional[str] = ..., watched_fraction: _Optional[float] = ..., reason: _Optional[str] = ..., release_year: _Optional[int] = ..., maturity_rating: _Optional[str] = ..., genres: _Optional[_Iterable[str]] = ..., synopsis: _Optional[str] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class OmittedRow(_message.Message):
    __slots__ = ("kind", "reason")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    kind: RowKind
    reason: str
    def __init__(self, kind: _Optional[_Union[RowKind, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class HomeRow(_message.Message):
    __slots__ = ("kind", "heading", "items", "degraded", "because_of")
    KIND_FIELD_NUMBER: _ClassVar[int]
    HEADING_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    BECAUSE_OF_FIELD_NUMBER: _ClassVar[int]
    kind: RowKind
    heading: str
    items: _containers.RepeatedCompositeFieldContainer[HomeItem]
    degraded: bool
    because_of: str
    def __init__(self, kind: _Optional[_Union[RowKind, str]] = ..., heading: _Optional[str] = ..., items: _Optional[_Iterable[_Union[HomeItem, _Mapping]]] = ..., degraded: _Optional[bool] = ..., because_of: _Optional[str] = ...) -> None: ...

class GetHomeRequest(_message.Message):
    __slots__ = ("profile", "region_code", "max_items_per_row")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_PER_ROW_FIELD_NUMBER: _ClassVar[int]
    profile: str
    region_code: str
    max_items_per_row: int
    def __init__(self, profile: _Optional[str] = ..., region_code: _Optional[str] = ..., max_items_per_row: _Optional[int] = ...) -> None: ...

class GetHomeResponse(_message.Message):
    __slots__ = ("rows", "omitted")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    OMITTED_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[HomeRow]
    omitted: _containers.RepeatedCompositeFieldContainer[OmittedRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[HomeRow, _Mapping]]] = ..., omitted: _Optional[_Iterable[_Union[OmittedRow, _Mapping]]] = ...) -> None: ...
