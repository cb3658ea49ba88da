import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
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

class SortOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SORT_ORDER_UNSPECIFIED: _ClassVar[SortOrder]
    SORT_ORDER_RELEVANCE: _ClassVar[SortOrder]
    SORT_ORDER_POPULARITY: _ClassVar[SortOrder]
    SORT_ORDER_RELEASE_DATE: _ClassVar[SortOrder]

class FacetField(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FACET_FIELD_UNSPECIFIED: _ClassVar[FacetField]
    FACET_FIELD_TYPE: _ClassVar[FacetField]
    FACET_FIELD_GENRE: _ClassVar[FacetField]
    FACET_FIELD_RELEASE_YEAR: _ClassVar[FacetField]
    FACET_FIELD_MATURITY_RATING: _ClassVar[FacetField]
    FACET_FIELD_COUNTRY: _ClassVar[FacetField]
    FACET_FIELD_DECADE: _ClassVar[FacetField]

class SuggestionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUGGESTION_KIND_UNSPECIFIED: _ClassVar[SuggestionKind]
    SUGGESTION_KIND_TITLE: _ClassVar[SuggestionKind]
    SUGGESTION_KIND_PERSON: _ClassVar[SuggestionKind]

class TrendingWindow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRENDING_WINDOW_UNSPECIFIED: _ClassVar[TrendingWindow]
    TRENDING_WINDOW_DAY: _ClassVar[TrendingWindow]
    TRENDING_WINDOW_WEEK: _ClassVar[TrendingWindow]
SORT_ORDER_UNSPECIFIED: SortOrder
SORT_ORDER_RELEVANCE: SortOrder
SORT_ORDER_POPULARITY: SortOrder
SORT_ORDER_RELEASE_DATE: SortOrder
FACET_FIELD_UNSPECIFIED: FacetField
FACET_FIELD_TYPE: FacetField
FACET_FIELD_GENRE: FacetField
FACET_FIELD_RELEASE_YEAR: FacetField
FACET_FIELD_MATURITY_RATING: FacetField
FACET_FIELD_COUNTRY: FacetField
FACET_FIELD_DECADE: FacetField
SUGGESTION_KIND_UNSPECIFIED: SuggestionKind
SUGGESTION_KIND_TITLE: SuggestionKind
SUGGESTION_KIND_PERSON: SuggestionKind
TRENDING_WINDOW_UNSPECIFIED: TrendingWindow
TRENDING_WINDOW_DAY: TrendingWindow
TRENDING_WINDOW_WEEK: TrendingWindow

class SearchFilter(_message.Message):
    __slots__ = ("types", "genres", "release_year_min", "release_year_max", "maturity_ratings", "cast_member", "country", "region_code")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_MIN_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_MAX_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATINGS_FIELD_NUMBER: _ClassVar[int]
    CAST_MEMBER_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    genres: _containers.RepeatedScalarFieldContainer[str]
    release_year_min: int
    release_year_max: int
    maturity_ratings: _containers.RepeatedScalarFieldContainer[str]
    cast_member: str
    country: str
    region_code: str
    def __init__(self, types: _Optional[_Iterable[str]] = ..., genres: _Optional[_Iterable[str]] = ..., release_year_min: _Optional[int] = ..., release_year_max: _Optional[int] = ..., maturity_ratings: _Optional[_Iterable[str]] = ..., cast_member: _Optional[str] = ..., country: _Optional[str] = ..., region_code: _Optional[str] = ...) -> None: ...

class TitleSummary(_message.Message):
    __slots__ = ("title", "display_name", "type", "release_year", "maturity_rating", "genres", "thumbnail_uri")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_URI_FIELD_NUMBER: _ClassVar[int]
    title: str
    display_name: str
    type: str
    release_year: int
    maturity_rating: str
    genres: _containers.RepeatedScalarFieldContainer[str]
    thumbnail_uri: str
    def __init__(self, title: _Optional[str] = ..., display_name: _Optional[str] = ..., type: _Optional[str] = ..., release_year: _Optional[int] = ..., maturity_rating: _Optional[str] = ..., genres: _Optional[_Iterable[str]] = ..., thumbnail_uri: _Optional[str] = ...) -> None: ...

class HighlightRange(_message.Message):
    __slots__ = ("start", "length")
    START_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    start: int
    length: int
    def __init__(self, start: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class Highlight(_message.Message):
    __slots__ = ("field", "snippet", "ranges")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    field: str
    snippet: str
    ranges: _containers.RepeatedCompositeFieldContainer[HighlightRange]
    def __init__(self, field: _Optional[str] = ..., snippet: _Optional[str] = ..., ranges: _Optional[_Iterable[_Union[HighlightRange, _Mapping]]] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("summary", "score", "highlights")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    HIGHLIGHTS_FIELD_NUMBER: _ClassVar[int]
    summary: TitleSummary
    score: float
    highlights: _containers.RepeatedCompositeFieldContainer[Highlight]
    def __init__(self, summary: _Optional[_Union[TitleSummary, _Mapping]] = ..., score: _Optional[float] = ..., highlights: _Optional[_Iterable[_Union[Highlight, _Mapping]]] = ...) -> None: ...

class FacetValue(_message.Message):
    __slots__ = ("value", "count")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    value: str
    count: int
    def __init__(self, value: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Facet(_message.Message):
    __slots__ = ("field", "values")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    field: FacetField
    values: _containers.RepeatedCompositeFieldContainer[FacetValue]
    def __init__(self, field: _Optional[_Union[FacetField, str]] = ..., values: _Optional[_Iterable[_Union[FacetValue, _Mapping]]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "filter", "facets", "sort", "profile", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    FACETS_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    filter: SearchFilter
    facets: _containers.RepeatedScalarFieldContainer[FacetField]
    sort: SortOrder
    profile: str
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., facets: _Optional[_Iterable[_Union[FacetField, str]]] = ..., sort: _Optional[_Union[SortOrder, str]] = ..., profile: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "next_page_token", "total_size", "facets", "corrected_query")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    FACETS_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_QUERY_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    next_page_token: str
    total_size: int
    facets: _containers.RepeatedCompositeFieldContainer[Facet]
    corrected_query: str
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., facets: _Optional[_Iterable[_Union[Facet, _Mapping]]] = ..., corrected_query: _Optional[str] = ...) -> None: ...

class SuggestRequest(_message.Message):
    __slots__ = ("prefix", "region_code", "limit")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    region_code: str
    limit: int
    def __init__(self, prefix: _Optional[str] = ..., region_code: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class Suggestion(_message.Message):
    __slots__ = ("kind", "text", "title", "match", "score")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    kind: SuggestionKind
    text: str
    title: str
    match: HighlightRange
    score: float
    def __init__(self, kind: _Optional[_Union[SuggestionKind, str]] = ..., text: _Optional[str] = ..., title: _Optional[str] = ..., match: _Optional[_Union[HighlightRange, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class SuggestResponse(_message.Message):
    __slots__ = ("suggestions",)
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[Suggestion]
    def __init__(self, suggestions: _Optional[_Iterable[_Union[Suggestion, _Mapping]]] = ...) -> None: ...

class TrendingRequest(_message.Message):
    __slots__ = ("region_code", "window", "page_size", "page_token")
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    region_code: str
    window: TrendingWindow
    page_size: int
    page_token: str
    def __init__(self, region_code: _Optional[str] = ..., window: _Optional[_Union[TrendingWindow, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class TrendingTitle(_message.Message):
    __slots__ = ("summary", "rank", "score")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    summary: TitleSummary
    rank: int
    score: float
    def __init__(self, summary: _Optional[_Union[TitleSummary, _Mapping]] = ..., rank: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class TrendingResponse(_message.Message):
    __slots__ = ("titles", "next_page_token")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[TrendingTitle]
    next_page_token: str
    def __init__(self, titles: _Optional[_Iterable[_Union[TrendingTitle, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class NewReleasesRequest(_message.Message):
    __slots__ = ("region_code", "page_size", "page_token")
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    region_code: str
    page_size: int
    page_token: str
    def __init__(self, region_code: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class NewRelease(_message.Message):
    __slots__ = ("summary", "available_time")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_TIME_FIELD_NUMBER: _ClassVar[int]
    summary: TitleSummary
    available_time: _timestamp_pb2.Timestamp
    def __init__(self, summary: _Optional[_Union[TitleSummary, _Mapping]] = ..., available_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NewReleasesResponse(_message.Message):
    __slots__ = ("releases", "next_page_token")
    RELEASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    releases: _containers.RepeatedCompositeFieldContainer[NewRelease]
    next_page_token: str
    def __init__(self, releases: _Optional[_Iterable[_Union[NewRelease, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReindexRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReindexResponse(_message.Message):
    __slots__ = ("indexed_count", "skipped_count", "duration_seconds")
    INDEXED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    indexed_count: int
    skipped_count: int
    duration_seconds: float
    def __init__(self, indexed_count: _Optional[int] = ..., skipped_count: _Optional[int] = ..., duration_seconds: _Optional[float] = ...) -> None: ...
