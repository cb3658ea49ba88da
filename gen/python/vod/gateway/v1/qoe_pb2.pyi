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

class QoeEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QOE_EVENT_KIND_UNSPECIFIED: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_STARTUP: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_FIRST_FRAME: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_REBUFFER_START: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_REBUFFER_END: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_BITRATE_SWITCH: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_ERROR: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_DROPPED_FRAMES: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_PLAYING: _ClassVar[QoeEventKind]
    QOE_EVENT_KIND_ENDED: _ClassVar[QoeEventKind]

class LadderAdvice(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LADDER_ADVICE_UNSPECIFIED: _ClassVar[LadderAdvice]
    LADDER_ADVICE_KEEP: _ClassVar[LadderAdvice]
    LADDER_ADVICE_ADD_RUNG: _ClassVar[LadderAdvice]
    LADDER_ADVICE_DROP_RUNG: _ClassVar[LadderAdvice]
    LADDER_ADVICE_INSUFFICIENT_DATA: _ClassVar[LadderAdvice]
QOE_EVENT_KIND_UNSPECIFIED: QoeEventKind
QOE_EVENT_KIND_STARTUP: QoeEventKind
QOE_EVENT_KIND_FIRST_FRAME: QoeEventKind
QOE_EVENT_KIND_REBUFFER_START: QoeEventKind
QOE_EVENT_KIND_REBUFFER_END: QoeEventKind
QOE_EVENT_KIND_BITRATE_SWITCH: QoeEventKind
QOE_EVENT_KIND_ERROR: QoeEventKind
QOE_EVENT_KIND_DROPPED_FRAMES: QoeEventKind
QOE_EVENT_KIND_PLAYING: QoeEventKind
QOE_EVENT_KIND_ENDED: QoeEventKind
LADDER_ADVICE_UNSPECIFIED: LadderAdvice
LADDER_ADVICE_KEEP: LadderAdvice
LADDER_ADVICE_ADD_RUNG: LadderAdvice
LADDER_ADVICE_DROP_RUNG: LadderAdvice
LADDER_ADVICE_INSUFFICIENT_DATA: LadderAdvice

class QoeEvent(_message.Message):
    __slots__ = ("kind", "offset_ms", "value_ms", "rendition", "bitrate_bps", "dropped_frames", "error_code")
    KIND_FIELD_NUMBER: _ClassVar[int]
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    VALUE_MS_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    kind: QoeEventKind
    offset_ms: int
    value_ms: int
    rendition: str
    bitrate_bps: int
    dropped_frames: int
    error_code: str
    def __init__(self, kind: _Optional[_Union[QoeEventKind, str]] = ..., offset_ms: _Optional[int] = ..., value_ms: _Optional[int] = ..., rendition: _Optional[str] = ..., bitrate_bps: _Optional[int] = ..., dropped_frames: _Optional[int] = ..., error_code: _Optional[str] = ...) -> None: ...

class RecordQoeEventsRequest(_message.Message):
    __slots__ = ("session", "batch_id", "events")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    session: str
    batch_id: str
    events: _containers.RepeatedCompositeFieldContainer[QoeEvent]
    def __init__(self, session: _Optional[str] = ..., batch_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[QoeEvent, _Mapping]]] = ...) -> None: ...

class RecordQoeEventsResponse(_message.Message):
    __slots__ = ("accepted", "duplicate")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicate: bool
    def __init__(self, accepted: _Optional[int] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class GetOperationsOverviewRequest(_message.Message):
    __slots__ = ("window_seconds",)
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: int
    def __init__(self, window_seconds: _Optional[int] = ...) -> None: ...

class QoeAggregate(_message.Message):
    __slots__ = ("title", "region_code", "edge", "rendition", "plays", "ttff_p50_ms", "ttff_p95_ms", "ttff_p99_ms", "rebuffer_ratio", "error_rate", "downswitches", "dropped_frames")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    EDGE_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    PLAYS_FIELD_NUMBER: _ClassVar[int]
    TTFF_P50_MS_FIELD_NUMBER: _ClassVar[int]
    TTFF_P95_MS_FIELD_NUMBER: _ClassVar[int]
    TTFF_P99_MS_FIELD_NUMBER: _ClassVar[int]
    REBUFFER_RATIO_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    DOWNSWITCHES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    title: str
    region_code: str
    edge: str
    rendition: str
    plays: int
    ttff_p50_ms: float
    ttff_p95_ms: float
    ttff_p99_ms: float
    rebuffer_ratio: float
    error_rate: float
    downswitches: int
    dropped_frames: int
    def __init__(self, title: _Optional[str] = ..., region_code: _Optional[str] = ..., edge: _Optional[str] = ..., rendition: _Optional[str] = ..., plays: _Optional[int] = ..., ttff_p50_ms: _Optional[float] = ..., ttff_p95_ms: _Optional[float] = ..., ttff_p99_ms: _Optional[float] = ..., rebuffer_ratio: _Optional[float] = ..., error_rate: _Optional[float] = ..., downswitches: _Optional[int] = ..., dropped_frames: _Optional[int] = ...) -> None: ...

class EdgeStatus(_message.Message):
    __slots__ = ("edge", "region_code", "hit_ratio", "requests", "reachable")
    EDGE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    HIT_RATIO_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    edge: str
    region_code: str
    hit_ratio: float
    requests: int
    reachable: bool
    def __init__(self, edge: _Optional[str] = ..., region_code: _Optional[str] = ..., hit_ratio: _Optional[float] = ..., requests: _Optional[int] = ..., reachable: _Optional[bool] = ...) -> None: ...

class GetOperationsOverviewResponse(_message.Message):
    __slots__ = ("compute_time", "window_seconds", "total", "by_title", "by_region", "by_edge", "by_rendition", "edges", "encode_queue_depth")
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BY_TITLE_FIELD_NUMBER: _ClassVar[int]
    BY_REGION_FIELD_NUMBER: _ClassVar[int]
    BY_EDGE_FIELD_NUMBER: _ClassVar[int]
    BY_RENDITION_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    ENCODE_QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    compute_time: _timestamp_pb2.Timestamp
    window_seconds: int
    total: QoeAggregate
    by_title: _containers.RepeatedCompositeFieldContainer[QoeAggregate]
    by_region: _containers.RepeatedCompositeFieldContainer[QoeAggregate]
    by_edge: _containers.RepeatedCompositeFieldContainer[QoeAggregate]
    by_rendition: _containers.RepeatedCompositeFieldContainer[QoeAggregate]
    edges: _containers.RepeatedCompositeFieldContainer[EdgeStatus]
    encode_queue_depth: int
    def __init__(self, compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_seconds: _Optional[int] = ..., total: _Optional[_Union[QoeAggregate, _Mapping]] = ..., by_title: _Optional[_Iterable[_Union[QoeAggregate, _Mapping]]] = ..., by_region: _Optional[_Iterable[_Union[QoeAggregate, _Mapping]]] = ..., by_edge: _Optional[_Iterable[_Union[QoeAggregate, _Mapping]]] = ..., by_rendition: _Optional[_Iterable[_Union[QoeAggregate, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[EdgeStatus, _Mapping]]] = ..., encode_queue_depth: _Optional[int] = ...) -> None: ...

class GetTitleQoeReportRequest(_message.Message):
    __slots__ = ("title", "window_seconds")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    title: str
    window_seconds: int
    def __init__(self, title: _Optional[str] = ..., window_seconds: _Optional[int] = ...) -> None: ...

class RungQoe(_message.Message):
    __slots__ = ("rendition", "height", "bitrate_bps", "vmaf", "seconds_played", "stalls", "downswitches_from", "upswitches_to")
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    VMAF_FIELD_NUMBER: _ClassVar[int]
    SECONDS_PLAYED_FIELD_NUMBER: _ClassVar[int]
    STALLS_FIELD_NUMBER: _ClassVar[int]
    DOWNSWITCHES_FROM_FIELD_NUMBER: _ClassVar[int]
    UPSWITCHES_TO_FIELD_NUMBER: _ClassVar[int]
    rendition: str
    height: int
    bitrate_bps: int
    vmaf: float
    seconds_played: float
    stalls: int
    downswitches_from: int
    upswitches_to: int
    def __init__(self, rendition: _Optional[str] = ..., height: _Optional[int] = ..., bitrate_bps: _Optional[int] = ..., vmaf: _Optional[float] = ..., seconds_played: _Optional[float] = ..., stalls: _Optional[int] = ..., downswitches_from: _Optional[int] = ..., upswitches_to: _Optional[int] = ...) -> None: ...

class LadderRecommendation(_message.Message):
    __slots__ = ("advice", "rendition", "suggested_bitrate_bps", "suggested_height", "reason")
    ADVICE_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    advice: LadderAdvice
    rendition: str
    suggested_bitrate_bps: int
    suggested_height: int
    reason: str
    def __init__(self, advice: _Optional[_Union[LadderAdvice, str]] = ..., rendition: _Optional[str] = ..., suggested_bitrate_bps: _Optional[int] = ..., suggested_height: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GetTitleQoeReportResponse(_message.Message):
    __slots__ = ("title", "plays", "total", "rungs", "recommendations")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PLAYS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    RUNGS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    title: str
    plays: int
    total: QoeAggregate
    rungs: _containers.RepeatedCompositeFieldContainer[RungQoe]
    recommendations: _containers.RepeatedCompositeFieldContainer[LadderRecommendation]
    def __init__(self, title: _Optional[str] = ..., plays: _Optional[int] = ..., total: _Optional[_Union[QoeAggregate, _Mapping]] = ..., rungs: _Optional[_Iterable[_Union[RungQoe, _Mapping]]] = ..., recommendations: _Optional[_Iterable[_Union[LadderRecommendation, _Mapping]]] = ...) -> None: ...
