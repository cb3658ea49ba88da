import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vod.catalog.v1 import catalog_pb2 as _catalog_pb2
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
    ROW_KIND_TOP_PICKS: _ClassVar[RowKind]
    ROW_KIND_BECAUSE_YOU_WATCHED: _ClassVar[RowKind]
    ROW_KIND_TRENDING_NOW: _ClassVar[RowKind]
    ROW_KIND_NEW_RELEASES: _ClassVar[RowKind]
    ROW_KIND_MORE_LIKE_THIS: _ClassVar[RowKind]

class FeedbackKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_KIND_UNSPECIFIED: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_VIEW: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_LIKE: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_DISLIKE: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_NOT_INTERESTED: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_COMPLETE: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_ABANDON: _ClassVar[FeedbackKind]
    FEEDBACK_KIND_SEARCH_PLAY: _ClassVar[FeedbackKind]
ROW_KIND_UNSPECIFIED: RowKind
ROW_KIND_TOP_PICKS: RowKind
ROW_KIND_BECAUSE_YOU_WATCHED: RowKind
ROW_KIND_TRENDING_NOW: RowKind
ROW_KIND_NEW_RELEASES: RowKind
ROW_KIND_MORE_LIKE_THIS: RowKind
FEEDBACK_KIND_UNSPECIFIED: FeedbackKind
FEEDBACK_KIND_VIEW: FeedbackKind
FEEDBACK_KIND_LIKE: FeedbackKind
FEEDBACK_KIND_DISLIKE: FeedbackKind
FEEDBACK_KIND_NOT_INTERESTED: FeedbackKind
FEEDBACK_KIND_COMPLETE: FeedbackKind
FEEDBACK_KIND_ABANDON: FeedbackKind
FEEDBACK_KIND_SEARCH_PLAY: FeedbackKind

class Recommendation(_message.Message):
    __slots__ = ("title", "score", "reason", "because_of")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BECAUSE_OF_FIELD_NUMBER: _ClassVar[int]
    title: str
    score: float
    reason: str
    because_of: str
    def __init__(self, title: _Optional[str] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., because_of: _Optional[str] = ...) -> None: ...

class GetRecommendationsRequest(_message.Message):
    __slots__ = ("profile", "row_kind", "region_code", "seed_title", "page_size", "page_token")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    ROW_KIND_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    SEED_TITLE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile: str
    row_kind: RowKind
    region_code: str
    seed_title: str
    page_size: int
    page_token: str
    def __init__(self, profile: _Optional[str] = ..., row_kind: _Optional[_Union[RowKind, str]] = ..., region_code: _Optional[str] = ..., seed_title: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetRecommendationsResponse(_message.Message):
    __slots__ = ("recommendations", "next_page_token", "heading", "seed_title", "degraded", "model_version")
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEADING_FIELD_NUMBER: _ClassVar[int]
    SEED_TITLE_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    next_page_token: str
    heading: str
    seed_title: str
    degraded: bool
    model_version: str
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., heading: _Optional[str] = ..., seed_title: _Optional[str] = ..., degraded: _Optional[bool] = ..., model_version: _Optional[str] = ...) -> None: ...

class GetSimilarTitlesRequest(_message.Message):
    __slots__ = ("title", "region_code", "profile", "page_size", "page_token")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    title: str
    region_code: str
    profile: str
    page_size: int
    page_token: str
    def __init__(self, title: _Optional[str] = ..., region_code: _Optional[str] = ..., profile: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetSimilarTitlesResponse(_message.Message):
    __slots__ = ("recommendations", "next_page_token", "degraded")
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    next_page_token: str
    degraded: bool
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., degraded: _Optional[bool] = ...) -> None: ...

class RecordFeedbackRequest(_message.Message):
    __slots__ = ("profile", "title", "kind", "watched_fraction", "event_id", "occur_time")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    profile: str
    title: str
    kind: FeedbackKind
    watched_fraction: float
    event_id: str
    occur_time: _timestamp_pb2.Timestamp
    def __init__(self, profile: _Optional[str] = ..., title: _Optional[str] = ..., kind: _Optional[_Union[FeedbackKind, str]] = ..., watched_fraction: _Optional[float] = ..., event_id: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordFeedbackResponse(_message.Message):
    __slots__ = ("duplicate", "throttled")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    THROTTLED_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    throttled: bool
    def __init__(self, duplicate: _Optional[bool] = ..., throttled: _Optional[bool] = ...) -> None: ...

class SetProfilePreferencesRequest(_message.Message):
    __slots__ = ("profile", "genres", "max_maturity_rating")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    MAX_MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    profile: str
    genres: _containers.RepeatedScalarFieldContainer[str]
    max_maturity_rating: _catalog_pb2.MaturityRating
    def __init__(self, profile: _Optional[str] = ..., genres: _Optional[_Iterable[str]] = ..., max_maturity_rating: _Optional[_Union[_catalog_pb2.MaturityRating, str]] = ...) -> None: ...

class SetProfilePreferencesResponse(_message.Message):
    __slots__ = ("profile", "genres", "max_maturity_rating")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    MAX_MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    profile: str
    genres: _containers.RepeatedScalarFieldContainer[str]
    max_maturity_rating: _catalog_pb2.MaturityRating
    def __init__(self, profile: _Optional[str] = ..., genres: _Optional[_Iterable[str]] = ..., max_maturity_rating: _Optional[_Union[_catalog_pb2.MaturityRating, str]] = ...) -> None: ...
