from vod.common.v1 import event_pb2 as _event_pb2
from vod.transcoding.v1 import transcoding_pb2 as _transcoding_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChunkState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHUNK_STATE_UNSPECIFIED: _ClassVar[ChunkState]
    CHUNK_STATE_STARTED: _ClassVar[ChunkState]
    CHUNK_STATE_DONE: _ClassVar[ChunkState]
    CHUNK_STATE_FAILED: _ClassVar[ChunkState]
CHUNK_STATE_UNSPECIFIED: ChunkState
CHUNK_STATE_STARTED: ChunkState
CHUNK_STATE_DONE: ChunkState
CHUNK_STATE_FAILED: ChunkState

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

class ChunkRung(_message.Message):
    __slots__ = ("width", "height", "bitrate_bps", "codec", "crf")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    CRF_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    bitrate_bps: int
    codec: _transcoding_pb2.VideoCodec
    crf: float
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., bitrate_bps: _Optional[int] = ..., codec: _Optional[_Union[_transcoding_pb2.VideoCodec, str]] = ..., crf: _Optional[float] = ...) -> None: ...

class TranscodeChunkQueued(_message.Message):
    __slots__ = ("meta", "job", "attempt", "coordinator", "index", "first_frame", "frame_count", "fps", "gop", "rungs", "preset", "threads", "source_key", "result_prefix")
    META_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    GOP_FIELD_NUMBER: _ClassVar[int]
    RUNGS_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KEY_FIELD_NUMBER: _ClassVar[int]
    RESULT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    job: str
    attempt: int
    coordinator: str
    index: int
    first_frame: int
    frame_count: int
    fps: float
    gop: int
    rungs: _containers.RepeatedCompositeFieldContainer[ChunkRung]
    preset: str
    threads: int
    source_key: str
    result_prefix: str
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., job: _Optional[str] = ..., attempt: _Optional[int] = ..., coordinator: _Optional[str] = ..., index: _Optional[int] = ..., first_frame: _Optional[int] = ..., frame_count: _Optional[int] = ..., fps: _Optional[float] = ..., gop: _Optional[int] = ..., rungs: _Optional[_Iterable[_Union[ChunkRung, _Mapping]]] = ..., preset: _Optional[str] = ..., threads: _Optional[int] = ..., source_key: _Optional[str] = ..., result_prefix: _Optional[str] = ...) -> None: ...

class TranscodeChunkStatus(_message.Message):
    __slots__ = ("meta", "job", "attempt", "index", "worker", "state", "result_prefix", "error", "encode_seconds", "coordinator")
    META_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ENCODE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    job: str
    attempt: int
    index: int
    worker: str
    state: ChunkState
    result_prefix: str
    error: str
    encode_seconds: float
    coordinator: str
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., job: _Optional[str] = ..., attempt: _Optional[int] = ..., index: _Optional[int] = ..., worker: _Optional[str] = ..., state: _Optional[_Union[ChunkState, str]] = ..., result_prefix: _Optional[str] = ..., error: _Optional[str] = ..., encode_seconds: _Optional[float] = ..., coordinator: _Optional[str] = ...) -> None: ...
