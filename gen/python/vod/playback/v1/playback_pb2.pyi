import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
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

class DeviceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_TYPE_UNSPECIFIED: _ClassVar[DeviceType]
    DEVICE_TYPE_WEB: _ClassVar[DeviceType]
    DEVICE_TYPE_TV: _ClassVar[DeviceType]
    DEVICE_TYPE_MOBILE: _ClassVar[DeviceType]
    DEVICE_TYPE_TABLET: _ClassVar[DeviceType]
    DEVICE_TYPE_CONSOLE: _ClassVar[DeviceType]

class StreamingProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STREAMING_PROTOCOL_UNSPECIFIED: _ClassVar[StreamingProtocol]
    STREAMING_PROTOCOL_HLS: _ClassVar[StreamingProtocol]
    STREAMING_PROTOCOL_DASH: _ClassVar[StreamingProtocol]

class PlayerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAYER_STATE_UNSPECIFIED: _ClassVar[PlayerState]
    PLAYER_STATE_PLAYING: _ClassVar[PlayerState]
    PLAYER_STATE_PAUSED: _ClassVar[PlayerState]
    PLAYER_STATE_BUFFERING: _ClassVar[PlayerState]
    PLAYER_STATE_SEEKING: _ClassVar[PlayerState]

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_ACTIVE: _ClassVar[SessionState]
    SESSION_STATE_STOPPED: _ClassVar[SessionState]
    SESSION_STATE_EXPIRED: _ClassVar[SessionState]
DEVICE_TYPE_UNSPECIFIED: DeviceType
DEVICE_TYPE_WEB: DeviceType
DEVICE_TYPE_TV: DeviceType
DEVICE_TYPE_MOBILE: DeviceType
DEVICE_TYPE_TABLET: DeviceType
DEVICE_TYPE_CONSOLE: DeviceType
STREAMING_PROTOCOL_UNSPECIFIED: StreamingProtocol
STREAMING_PROTOCOL_HLS: StreamingProtocol
STREAMING_PROTOCOL_DASH: StreamingProtocol
PLAYER_STATE_UNSPECIFIED: PlayerState
PLAYER_STATE_PLAYING: PlayerState
PLAYER_STATE_PAUSED: PlayerState
PLAYER_STATE_BUFFERING: PlayerState
PLAYER_STATE_SEEKING: PlayerState
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_ACTIVE: SessionState
SESSION_STATE_STOPPED: SessionState
SESSION_STATE_EXPIRED: SessionState

class PlaybackSession(_message.Message):
    __slots__ = ("name", "profile", "title", "device_type", "device_id", "region_code", "protocol", "session_token", "manifest_url", "license_url", "encrypted", "resume_position", "max_height", "heartbeat_interval", "state", "start_time", "expire_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_URL_FIELD_NUMBER: _ClassVar[int]
    LICENSE_URL_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    RESUME_POSITION_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    profile: str
    title: str
    device_type: DeviceType
    device_id: str
    region_code: str
    protocol: StreamingProtocol
    session_token: str
    manifest_url: str
    license_url: str
    encrypted: bool
    resume_position: _duration_pb2.Duration
    max_height: int
    heartbeat_interval: _duration_pb2.Duration
    state: SessionState
    start_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., profile: _Optional[str] = ..., title: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., device_id: _Optional[str] = ..., region_code: _Optional[str] = ..., protocol: _Optional[_Union[StreamingProtocol, str]] = ..., session_token: _Optional[str] = ..., manifest_url: _Optional[str] = ..., license_url: _Optional[str] = ..., encrypted: _Optional[bool] = ..., resume_position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_height: _Optional[int] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., state: _Optional[_Union[SessionState, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResumePoint(_message.Message):
    __slots__ = ("profile", "title", "position", "duration", "watched_fraction", "completed", "update_time")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    profile: str
    title: str
    position: _duration_pb2.Duration
    duration: _duration_pb2.Duration
    watched_fraction: float
    completed: bool
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, profile: _Optional[str] = ..., title: _Optional[str] = ..., position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., watched_fraction: _Optional[float] = ..., completed: _Optional[bool] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StartPlaybackRequest(_message.Message):
    __slots__ = ("profile", "title", "device_type", "device_id", "region_code", "preferred_protocol", "start_position")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    START_POSITION_FIELD_NUMBER: _ClassVar[int]
    profile: str
    title: str
    device_type: DeviceType
    device_id: str
    region_code: str
    preferred_protocol: StreamingProtocol
    start_position: _duration_pb2.Duration
    def __init__(self, profile: _Optional[str] = ..., title: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., device_id: _Optional[str] = ..., region_code: _Optional[str] = ..., preferred_protocol: _Optional[_Union[StreamingProtocol, str]] = ..., start_position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StartPlaybackResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: PlaybackSession
    def __init__(self, session: _Optional[_Union[PlaybackSession, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("session", "position", "state", "bitrate_bps")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    session: str
    position: _duration_pb2.Duration
    state: PlayerState
    bitrate_bps: int
    def __init__(self, session: _Optional[str] = ..., position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., state: _Optional[_Union[PlayerState, str]] = ..., bitrate_bps: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("expire_time", "heartbeat_interval")
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    heartbeat_interval: _duration_pb2.Duration
    def __init__(self, expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StopPlaybackRequest(_message.Message):
    __slots__ = ("session", "position")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    session: str
    position: _duration_pb2.Duration
    def __init__(self, session: _Optional[str] = ..., position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StopPlaybackResponse(_message.Message):
    __slots__ = ("resume_point",)
    RESUME_POINT_FIELD_NUMBER: _ClassVar[int]
    resume_point: ResumePoint
    def __init__(self, resume_point: _Optional[_Union[ResumePoint, _Mapping]] = ...) -> None: ...

class ListContinueWatchingRequest(_message.Message):
    __slots__ = ("profile", "page_size", "page_token")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile: str
    page_size: int
    page_token: str
    def __init__(self, profile: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListContinueWatchingResponse(_message.Message):
    __slots__ = ("resume_points", "next_page_token")
    RESUME_POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    resume_points: _containers.RepeatedCompositeFieldContainer[ResumePoint]
    next_page_token: str
    def __init__(self, resume_points: _Optional[_Iterable[_Union[ResumePoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetResumePointRequest(_message.Message):
    __slots__ = ("profile", "title")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    profile: str
    title: str
    def __init__(self, profile: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class GetResumePointResponse(_message.Message):
    __slots__ = ("resume_point",)
    RESUME_POINT_FIELD_NUMBER: _ClassVar[int]
    resume_point: ResumePoint
    def __init__(self, resume_point: _Optional[_Union[ResumePoint, _Mapping]] = ...) -> None: ...

class PrewarmTitleRequest(_message.Message):
    __slots__ = ("title", "region_codes")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODES_FIELD_NUMBER: _ClassVar[int]
    title: str
    region_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, title: _Optional[str] = ..., region_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class EdgeWarmResult(_message.Message):
    __slots__ = ("region_code", "objects", "already_cached", "bytes")
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CACHED_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    region_code: str
    objects: int
    already_cached: int
    bytes: int
    def __init__(self, region_code: _Optional[str] = ..., objects: _Optional[int] = ..., already_cached: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class PrewarmTitleResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EdgeWarmResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EdgeWarmResult, _Mapping]]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session", "user", "media_asset", "plan")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    session: PlaybackSession
    user: str
    media_asset: str
    plan: str
    def __init__(self, session: _Optional[_Union[PlaybackSession, _Mapping]] = ..., user: _Optional[str] = ..., media_asset: _Optional[str] = ..., plan: _Optional[str] = ...) -> None: ...
