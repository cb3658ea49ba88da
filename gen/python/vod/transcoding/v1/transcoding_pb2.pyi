import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from vod.common.v1 import access_pb2 as _access_pb2
from vod.common.v1 import validation_pb2 as _validation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_STATE_UNSPECIFIED: _ClassVar[UploadState]
    UPLOAD_STATE_UPLOADING: _ClassVar[UploadState]
    UPLOAD_STATE_COMPLETED: _ClassVar[UploadState]
    UPLOAD_STATE_FAILED: _ClassVar[UploadState]
    UPLOAD_STATE_EXPIRED: _ClassVar[UploadState]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class JobStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STAGE_UNSPECIFIED: _ClassVar[JobStage]
    JOB_STAGE_PROBING: _ClassVar[JobStage]
    JOB_STAGE_ANALYZING: _ClassVar[JobStage]
    JOB_STAGE_ENCODING: _ClassVar[JobStage]
    JOB_STAGE_MEASURING_QUALITY: _ClassVar[JobStage]
    JOB_STAGE_PACKAGING: _ClassVar[JobStage]
    JOB_STAGE_PUBLISHING: _ClassVar[JobStage]

class LadderPreset(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LADDER_PRESET_UNSPECIFIED: _ClassVar[LadderPreset]
    LADDER_PRESET_STANDARD: _ClassVar[LadderPreset]
    LADDER_PRESET_PER_TITLE: _ClassVar[LadderPreset]
    LADDER_PRESET_UHD: _ClassVar[LadderPreset]
    LADDER_PRESET_PREVIEW: _ClassVar[LadderPreset]

class VideoCodec(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIDEO_CODEC_UNSPECIFIED: _ClassVar[VideoCodec]
    VIDEO_CODEC_H264: _ClassVar[VideoCodec]
    VIDEO_CODEC_H265: _ClassVar[VideoCodec]
    VIDEO_CODEC_AV1: _ClassVar[VideoCodec]
UPLOAD_STATE_UNSPECIFIED: UploadState
UPLOAD_STATE_UPLOADING: UploadState
UPLOAD_STATE_COMPLETED: UploadState
UPLOAD_STATE_FAILED: UploadState
UPLOAD_STATE_EXPIRED: UploadState
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STAGE_UNSPECIFIED: JobStage
JOB_STAGE_PROBING: JobStage
JOB_STAGE_ANALYZING: JobStage
JOB_STAGE_ENCODING: JobStage
JOB_STAGE_MEASURING_QUALITY: JobStage
JOB_STAGE_PACKAGING: JobStage
JOB_STAGE_PUBLISHING: JobStage
LADDER_PRESET_UNSPECIFIED: LadderPreset
LADDER_PRESET_STANDARD: LadderPreset
LADDER_PRESET_PER_TITLE: LadderPreset
LADDER_PRESET_UHD: LadderPreset
LADDER_PRESET_PREVIEW: LadderPreset
VIDEO_CODEC_UNSPECIFIED: VideoCodec
VIDEO_CODEC_H264: VideoCodec
VIDEO_CODEC_H265: VideoCodec
VIDEO_CODEC_AV1: VideoCodec

class Upload(_message.Message):
    __slots__ = ("name", "title", "file_name", "size_bytes", "content_type", "sha256", "committed_offset", "state", "create_time", "update_time", "expire_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    file_name: str
    size_bytes: int
    content_type: str
    sha256: str
    committed_offset: int
    state: UploadState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., file_name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., content_type: _Optional[str] = ..., sha256: _Optional[str] = ..., committed_offset: _Optional[int] = ..., state: _Optional[_Union[UploadState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("title", "file_name", "size_bytes", "content_type", "sha256", "upload_id")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    title: str
    file_name: str
    size_bytes: int
    content_type: str
    sha256: str
    upload_id: str
    def __init__(self, title: _Optional[str] = ..., file_name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., content_type: _Optional[str] = ..., sha256: _Optional[str] = ..., upload_id: _Optional[str] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("offset", "data", "crc32c", "sha256")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    crc32c: int
    sha256: str
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32c: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    chunk: UploadChunk
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., chunk: _Optional[_Union[UploadChunk, _Mapping]] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("upload",)
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    upload: Upload
    def __init__(self, upload: _Optional[_Union[Upload, _Mapping]] = ...) -> None: ...

class GetUploadRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetUploadResponse(_message.Message):
    __slots__ = ("upload",)
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    upload: Upload
    def __init__(self, upload: _Optional[_Union[Upload, _Mapping]] = ...) -> None: ...

class RenditionSpec(_message.Message):
    __slots__ = ("height", "bitrate_bps", "codec")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    height: int
    bitrate_bps: int
    codec: VideoCodec
    def __init__(self, height: _Optional[int] = ..., bitrate_bps: _Optional[int] = ..., codec: _Optional[_Union[VideoCodec, str]] = ...) -> None: ...

class TranscodeOptions(_message.Message):
    __slots__ = ("ladder", "renditions", "codec", "segment_duration_seconds", "keyframe_interval_seconds", "vmaf_target", "encrypt", "subtitles", "audio_tracks")
    LADDER_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VMAF_TARGET_FIELD_NUMBER: _ClassVar[int]
    ENCRYPT_FIELD_NUMBER: _ClassVar[int]
    SUBTITLES_FIELD_NUMBER: _ClassVar[int]
    AUDIO_TRACKS_FIELD_NUMBER: _ClassVar[int]
    ladder: LadderPreset
    renditions: _containers.RepeatedCompositeFieldContainer[RenditionSpec]
    codec: VideoCodec
    segment_duration_seconds: int
    keyframe_interval_seconds: int
    vmaf_target: int
    encrypt: bool
    subtitles: _containers.RepeatedCompositeFieldContainer[SubtitleSpec]
    audio_tracks: _containers.RepeatedCompositeFieldContainer[AudioSpec]
    def __init__(self, ladder: _Optional[_Union[LadderPreset, str]] = ..., renditions: _Optional[_Iterable[_Union[RenditionSpec, _Mapping]]] = ..., codec: _Optional[_Union[VideoCodec, str]] = ..., segment_duration_seconds: _Optional[int] = ..., keyframe_interval_seconds: _Optional[int] = ..., vmaf_target: _Optional[int] = ..., encrypt: _Optional[bool] = ..., subtitles: _Optional[_Iterable[_Union[SubtitleSpec, _Mapping]]] = ..., audio_tracks: _Optional[_Iterable[_Union[AudioSpec, _Mapping]]] = ...) -> None: ...

class AudioSpec(_message.Message):
    __slots__ = ("upload", "language", "label")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    upload: str
    language: str
    label: str
    def __init__(self, upload: _Optional[str] = ..., language: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class SubtitleSpec(_message.Message):
    __slots__ = ("upload", "language", "label")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    upload: str
    language: str
    label: str
    def __init__(self, upload: _Optional[str] = ..., language: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("name", "upload", "title", "options", "state", "progress", "renditions", "media_asset", "error", "attempt_count", "create_time", "start_time", "end_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    upload: str
    title: str
    options: TranscodeOptions
    state: JobState
    progress: JobProgress
    renditions: _containers.RepeatedCompositeFieldContainer[Rendition]
    media_asset: MediaAsset
    error: _status_pb2.Status
    attempt_count: int
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., upload: _Optional[str] = ..., title: _Optional[str] = ..., options: _Optional[_Union[TranscodeOptions, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[_Union[JobProgress, _Mapping]] = ..., renditions: _Optional[_Iterable[_Union[Rendition, _Mapping]]] = ..., media_asset: _Optional[_Union[MediaAsset, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., attempt_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("job", "state", "stage", "percent", "fps", "eta", "message", "update_time")
    JOB_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    job: str
    state: JobState
    stage: JobStage
    percent: float
    fps: float
    eta: _duration_pb2.Duration
    message: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, job: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., stage: _Optional[_Union[JobStage, str]] = ..., percent: _Optional[float] = ..., fps: _Optional[float] = ..., eta: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., message: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Rendition(_message.Message):
    __slots__ = ("id", "width", "height", "frame_rate", "bitrate_bps", "peak_bitrate_bps", "video_codec", "codecs", "vmaf", "segment_count", "encrypted", "key_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    PEAK_BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_CODEC_FIELD_NUMBER: _ClassVar[int]
    CODECS_FIELD_NUMBER: _ClassVar[int]
    VMAF_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    width: int
    height: int
    frame_rate: float
    bitrate_bps: int
    peak_bitrate_bps: int
    video_codec: VideoCodec
    codecs: str
    vmaf: float
    segment_count: int
    encrypted: bool
    key_id: str
    def __init__(self, id: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., frame_rate: _Optional[float] = ..., bitrate_bps: _Optional[int] = ..., peak_bitrate_bps: _Optional[int] = ..., video_codec: _Optional[_Union[VideoCodec, str]] = ..., codecs: _Optional[str] = ..., vmaf: _Optional[float] = ..., segment_count: _Optional[int] = ..., encrypted: _Optional[bool] = ..., key_id: _Optional[str] = ...) -> None: ...

class MediaAsset(_message.Message):
    __slots__ = ("name", "title", "job", "hls_manifest_uri", "dash_manifest_uri", "duration_seconds", "renditions", "encrypted", "key_ids", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    HLS_MANIFEST_URI_FIELD_NUMBER: _ClassVar[int]
    DASH_MANIFEST_URI_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    job: str
    hls_manifest_uri: str
    dash_manifest_uri: str
    duration_seconds: float
    renditions: _containers.RepeatedCompositeFieldContainer[Rendition]
    encrypted: bool
    key_ids: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., job: _Optional[str] = ..., hls_manifest_uri: _Optional[str] = ..., dash_manifest_uri: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., renditions: _Optional[_Iterable[_Union[Rendition, _Mapping]]] = ..., encrypted: _Optional[bool] = ..., key_ids: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("job", "job_id")
    JOB_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job: Job
    job_id: str
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., job_id: _Optional[str] = ...) -> None: ...

class CreateJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "title", "upload", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    title: str
    upload: str
    state: JobState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., title: _Optional[str] = ..., upload: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: JobProgress
    def __init__(self, progress: _Optional[_Union[JobProgress, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetMediaAssetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetMediaAssetResponse(_message.Message):
    __slots__ = ("media_asset",)
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    media_asset: MediaAsset
    def __init__(self, media_asset: _Optional[_Union[MediaAsset, _Mapping]] = ...) -> None: ...
