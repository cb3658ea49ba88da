from vod.common.v1 import event_pb2 as _event_pb2
from vod.transcoding.v1 import transcoding_pb2 as _transcoding_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadCompleted(_message.Message):
    __slots__ = ("meta", "upload")
    META_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    upload: _transcoding_pb2.Upload
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., upload: _Optional[_Union[_transcoding_pb2.Upload, _Mapping]] = ...) -> None: ...

class TranscodeJobProgress(_message.Message):
    __slots__ = ("meta", "progress", "title")
    META_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    progress: _transcoding_pb2.JobProgress
    title: str
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., progress: _Optional[_Union[_transcoding_pb2.JobProgress, _Mapping]] = ..., title: _Optional[str] = ...) -> None: ...

class TranscodeJobCompleted(_message.Message):
    __slots__ = ("meta", "job")
    META_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    job: _transcoding_pb2.Job
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., job: _Optional[_Union[_transcoding_pb2.Job, _Mapping]] = ...) -> None: ...

class TranscodeJobFailed(_message.Message):
    __slots__ = ("meta", "job")
    META_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    job: _transcoding_pb2.Job
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., job: _Optional[_Union[_transcoding_pb2.Job, _Mapping]] = ...) -> None: ...

class RenditionReady(_message.Message):
    __slots__ = ("meta", "job", "title", "rendition")
    META_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    job: str
    title: str
    rendition: _transcoding_pb2.Rendition
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., job: _Optional[str] = ..., title: _Optional[str] = ..., rendition: _Optional[_Union[_transcoding_pb2.Rendition, _Mapping]] = ...) -> None: ...

class MediaReady(_message.Message):
    __slots__ = ("meta", "media_asset")
    META_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    media_asset: _transcoding_pb2.MediaAsset
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., media_asset: _Optional[_Union[_transcoding_pb2.MediaAsset, _Mapping]] = ...) -> None: ...

class TranscodeJobQueued(_message.Message):
    __slots__ = ("meta", "job", "title")
    META_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    job: str
    title: str
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., job: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...
