import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from vod.common.v1 import event_pb2 as _event_pb2
from vod.playback.v1 import playback_pb2 as _playback_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlaybackStopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAYBACK_STOP_REASON_UNSPECIFIED: _ClassVar[PlaybackStopReason]
    PLAYBACK_STOP_REASON_STOPPED: _ClassVar[PlaybackStopReason]
    PLAYBACK_STOP_REASON_EXPIRED: _ClassVar[PlaybackStopReason]
PLAYBACK_STOP_REASON_UNSPECIFIED: PlaybackStopReason
PLAYBACK_STOP_REASON_STOPPED: PlaybackStopReason
PLAYBACK_STOP_REASON_EXPIRED: PlaybackStopReason

class PlaybackStarted(_message.Message):
    __slots__ = ("meta", "session", "profile", "title", "device_type", "region_code", "protocol", "start_position")
    META_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    START_POSITION_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    session: str
    profile: str
    title: str
    device_type: _playback_pb2.DeviceType
    region_code: str
    protocol: _playback_pb2.StreamingProtocol
    start_position: _duration_pb2.Duration
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., session: _Optional[str] = ..., profile: _Optional[str] = ..., title: _Optional[str] = ..., device_type: _Optional[_Union[_playback_pb2.DeviceType, str]] = ..., region_code: _Optional[str] = ..., protocol: _Optional[_Union[_playback_pb2.StreamingProtocol, str]] = ..., start_position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class PlaybackStopped(_message.Message):
    __slots__ = ("meta", "session", "profile", "title", "region_code", "position", "duration", "watched_fraction", "completed", "watch_time", "reason")
    META_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    WATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    session: str
    profile: str
    title: str
    region_code: str
    position: _duration_pb2.Duration
    duration: _duration_pb2.Duration
    watched_fraction: float
    completed: bool
    watch_time: _duration_pb2.Duration
    reason: PlaybackStopReason
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., session: _Optional[str] = ..., profile: _Optional[str] = ..., title: _Optional[str] = ..., region_code: _Optional[str] = ..., position: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., watched_fraction: _Optional[float] = ..., completed: _Optional[bool] = ..., watch_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., reason: _Optional[_Union[PlaybackStopReason, str]] = ...) -> None: ...
