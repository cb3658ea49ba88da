import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vod.common.v1 import access_pb2 as _access_pb2
from vod.common.v1 import validation_pb2 as _validation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TitleType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TITLE_TYPE_UNSPECIFIED: _ClassVar[TitleType]
    TITLE_TYPE_MOVIE: _ClassVar[TitleType]
    TITLE_TYPE_SERIES: _ClassVar[TitleType]
    TITLE_TYPE_SEASON: _ClassVar[TitleType]
    TITLE_TYPE_EPISODE: _ClassVar[TitleType]

class MaturityRating(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATURITY_RATING_UNSPECIFIED: _ClassVar[MaturityRating]
    MATURITY_RATING_TV_Y: _ClassVar[MaturityRating]
    MATURITY_RATING_TV_Y7: _ClassVar[MaturityRating]
    MATURITY_RATING_TV_Y7_FV: _ClassVar[MaturityRating]
    MATURITY_RATING_G: _ClassVar[MaturityRating]
    MATURITY_RATING_TV_G: _ClassVar[MaturityRating]
    MATURITY_RATING_PG: _ClassVar[MaturityRating]
    MATURITY_RATING_TV_PG: _ClassVar[MaturityRating]
    MATURITY_RATING_PG_13: _ClassVar[MaturityRating]
    MATURITY_RATING_TV_14: _ClassVar[MaturityRating]
    MATURITY_RATING_R: _ClassVar[MaturityRating]
    MATURITY_RATING_TV_MA: _ClassVar[MaturityRating]
    MATURITY_RATING_NC_17: _ClassVar[MaturityRating]
    MATURITY_RATING_NOT_RATED: _ClassVar[MaturityRating]

class CreditRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_ROLE_UNSPECIFIED: _ClassVar[CreditRole]
    CREDIT_ROLE_ACTOR: _ClassVar[CreditRole]
    CREDIT_ROLE_DIRECTOR: _ClassVar[CreditRole]
    CREDIT_ROLE_WRITER: _ClassVar[CreditRole]
    CREDIT_ROLE_CREATOR: _ClassVar[CreditRole]

class ArtworkKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTWORK_KIND_UNSPECIFIED: _ClassVar[ArtworkKind]
    ARTWORK_KIND_POSTER: _ClassVar[ArtworkKind]
    ARTWORK_KIND_BACKDROP: _ClassVar[ArtworkKind]
    ARTWORK_KIND_THUMBNAIL: _ClassVar[ArtworkKind]
    ARTWORK_KIND_LOGO: _ClassVar[ArtworkKind]

class MediaState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_STATE_UNSPECIFIED: _ClassVar[MediaState]
    MEDIA_STATE_PROCESSING: _ClassVar[MediaState]
    MEDIA_STATE_READY: _ClassVar[MediaState]
    MEDIA_STATE_FAILED: _ClassVar[MediaState]
TITLE_TYPE_UNSPECIFIED: TitleType
TITLE_TYPE_MOVIE: TitleType
TITLE_TYPE_SERIES: TitleType
TITLE_TYPE_SEASON: TitleType
TITLE_TYPE_EPISODE: TitleType
MATURITY_RATING_UNSPECIFIED: MaturityRating
MATURITY_RATING_TV_Y: MaturityRating
MATURITY_RATING_TV_Y7: MaturityRating
MATURITY_RATING_TV_Y7_FV: MaturityRating
MATURITY_RATING_G: MaturityRating
MATURITY_RATING_TV_G: MaturityRating
MATURITY_RATING_PG: MaturityRating
MATURITY_RATING_TV_PG: MaturityRating
MATURITY_RATING_PG_13: MaturityRating
MATURITY_RATING_TV_14: MaturityRating
MATURITY_RATING_R: MaturityRating
MATURITY_RATING_TV_MA: MaturityRating
MATURITY_RATING_NC_17: MaturityRating
MATURITY_RATING_NOT_RATED: MaturityRating
CREDIT_ROLE_UNSPECIFIED: CreditRole
CREDIT_ROLE_ACTOR: CreditRole
CREDIT_ROLE_DIRECTOR: CreditRole
CREDIT_ROLE_WRITER: CreditRole
CREDIT_ROLE_CREATOR: CreditRole
ARTWORK_KIND_UNSPECIFIED: ArtworkKind
ARTWORK_KIND_POSTER: ArtworkKind
ARTWORK_KIND_BACKDROP: ArtworkKind
ARTWORK_KIND_THUMBNAIL: ArtworkKind
ARTWORK_KIND_LOGO: ArtworkKind
MEDIA_STATE_UNSPECIFIED: MediaState
MEDIA_STATE_PROCESSING: MediaState
MEDIA_STATE_READY: MediaState
MEDIA_STATE_FAILED: MediaState

class Credit(_message.Message):
    __slots__ = ("person", "role", "character")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    person: str
    role: CreditRole
    character: str
    def __init__(self, person: _Optional[str] = ..., role: _Optional[_Union[CreditRole, str]] = ..., character: _Optional[str] = ...) -> None: ...

class Artwork(_message.Message):
    __slots__ = ("kind", "uri")
    KIND_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    kind: ArtworkKind
    uri: str
    def __init__(self, kind: _Optional[_Union[ArtworkKind, str]] = ..., uri: _Optional[str] = ...) -> None: ...

class AvailabilityWindow(_message.Message):
    __slots__ = ("region_code", "start_time", "end_time")
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    region_code: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, region_code: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("state", "asset", "duration_seconds")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    state: MediaState
    asset: str
    duration_seconds: float
    def __init__(self, state: _Optional[_Union[MediaState, str]] = ..., asset: _Optional[str] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class Title(_message.Message):
    __slots__ = ("name", "type", "display_name", "parent", "number", "synopsis", "release_year", "duration_seconds", "maturity_rating", "genres", "credits", "countries", "artwork", "availability", "external_id", "media", "create_time", "update_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    SYNOPSIS_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    ARTWORK_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: TitleType
    display_name: str
    parent: str
    number: int
    synopsis: str
    release_year: int
    duration_seconds: int
    maturity_rating: MaturityRating
    genres: _containers.RepeatedScalarFieldContainer[str]
    credits: _containers.RepeatedCompositeFieldContainer[Credit]
    countries: _containers.RepeatedScalarFieldContainer[str]
    artwork: _containers.RepeatedCompositeFieldContainer[Artwork]
    availability: _containers.RepeatedCompositeFieldContainer[AvailabilityWindow]
    external_id: str
    media: Media
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[TitleType, str]] = ..., display_name: _Optional[str] = ..., parent: _Optional[str] = ..., number: _Optional[int] = ..., synopsis: _Optional[str] = ..., release_year: _Optional[int] = ..., duration_seconds: _Optional[int] = ..., maturity_rating: _Optional[_Union[MaturityRating, str]] = ..., genres: _Optional[_Iterable[str]] = ..., credits: _Optional[_Iterable[_Union[Credit, _Mapping]]] = ..., countries: _Optional[_Iterable[str]] = ..., artwork: _Optional[_Iterable[_Union[Artwork, _Mapping]]] = ..., availability: _Optional[_Iterable[_Union[AvailabilityWindow, _Mapping]]] = ..., external_id: _Optional[str] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class GetTitleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTitleResponse(_message.Message):
    __slots__ = ("title",)
    TITLE_FIELD_NUMBER: _ClassVar[int]
    title: Title
    def __init__(self, title: _Optional[_Union[Title, _Mapping]] = ...) -> None: ...

class ListTitlesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "type", "genre", "release_year_min", "release_year_max", "available_in", "available_at", "person", "parent", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_MIN_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_MAX_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_IN_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AT_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    type: TitleType
    genre: str
    release_year_min: int
    release_year_max: int
    available_in: str
    available_at: _timestamp_pb2.Timestamp
    person: str
    parent: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., type: _Optional[_Union[TitleType, str]] = ..., genre: _Optional[str] = ..., release_year_min: _Optional[int] = ..., release_year_max: _Optional[int] = ..., available_in: _Optional[str] = ..., available_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., person: _Optional[str] = ..., parent: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListTitlesResponse(_message.Message):
    __slots__ = ("titles", "next_page_token", "total_size")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[Title]
    next_page_token: str
    total_size: int
    def __init__(self, titles: _Optional[_Iterable[_Union[Title, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class BatchGetTitlesRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetTitlesResponse(_message.Message):
    __slots__ = ("titles",)
    TITLES_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[Title]
    def __init__(self, titles: _Optional[_Iterable[_Union[Title, _Mapping]]] = ...) -> None: ...

class CreateTitleRequest(_message.Message):
    __slots__ = ("title", "title_id")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    title: Title
    title_id: str
    def __init__(self, title: _Optional[_Union[Title, _Mapping]] = ..., title_id: _Optional[str] = ...) -> None: ...

class CreateTitleResponse(_message.Message):
    __slots__ = ("title",)
    TITLE_FIELD_NUMBER: _ClassVar[int]
    title: Title
    def __init__(self, title: _Optional[_Union[Title, _Mapping]] = ...) -> None: ...

class BatchCreateTitlesRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CreateTitleRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CreateTitleRequest, _Mapping]]] = ...) -> None: ...

class BatchCreateTitlesResponse(_message.Message):
    __slots__ = ("titles",)
    TITLES_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[Title]
    def __init__(self, titles: _Optional[_Iterable[_Union[Title, _Mapping]]] = ...) -> None: ...

class UpdateTitleRequest(_message.Message):
    __slots__ = ("title", "update_mask")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    title: Title
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, title: _Optional[_Union[Title, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateTitleResponse(_message.Message):
    __slots__ = ("title",)
    TITLE_FIELD_NUMBER: _ClassVar[int]
    title: Title
    def __init__(self, title: _Optional[_Union[Title, _Mapping]] = ...) -> None: ...

class DeleteTitleRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteTitleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckAvailabilityRequest(_message.Message):
    __slots__ = ("name", "region_code", "time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    region_code: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., region_code: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckAvailabilityResponse(_message.Message):
    __slots__ = ("available", "window", "next_window")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    NEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    available: bool
    window: AvailabilityWindow
    next_window: AvailabilityWindow
    def __init__(self, available: _Optional[bool] = ..., window: _Optional[_Union[AvailabilityWindow, _Mapping]] = ..., next_window: _Optional[_Union[AvailabilityWindow, _Mapping]] = ...) -> None: ...

class ListGenresRequest(_message.Message):
    __slots__ = ("page_size",)
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    def __init__(self, page_size: _Optional[int] = ...) -> None: ...

class GenreCount(_message.Message):
    __slots__ = ("genre", "title_count")
    GENRE_FIELD_NUMBER: _ClassVar[int]
    TITLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    genre: str
    title_count: int
    def __init__(self, genre: _Optional[str] = ..., title_count: _Optional[int] = ...) -> None: ...

class ListGenresResponse(_message.Message):
    __slots__ = ("genres",)
    GENRES_FIELD_NUMBER: _ClassVar[int]
    genres: _containers.RepeatedCompositeFieldContainer[GenreCount]
    def __init__(self, genres: _Optional[_Iterable[_Union[GenreCount, _Mapping]]] = ...) -> None: ...
