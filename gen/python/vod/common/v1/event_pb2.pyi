import datetime

from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EVENT_SUBJECT_FIELD_NUMBER: _ClassVar[int]
event_subject: _descriptor.FieldDescriptor

class EventMeta(_message.Message):
    __slots__ = ("event_id", "occur_time", "producer", "trace_id", "request_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCUR_TIME_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occur_time: _timestamp_pb2.Timestamp
    producer: str
    trace_id: str
    request_id: str
    def __init__(self, event_id: _Optional[str] = ..., occur_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer: _Optional[str] = ..., trace_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...
