import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
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

class KeySystem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_SYSTEM_UNSPECIFIED: _ClassVar[KeySystem]
    KEY_SYSTEM_CLEARKEY: _ClassVar[KeySystem]
    KEY_SYSTEM_HLS_AES_128: _ClassVar[KeySystem]

class TrackType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_TYPE_UNSPECIFIED: _ClassVar[TrackType]
    TRACK_TYPE_ALL: _ClassVar[TrackType]
    TRACK_TYPE_VIDEO: _ClassVar[TrackType]
    TRACK_TYPE_AUDIO: _ClassVar[TrackType]
    TRACK_TYPE_VIDEO_SD: _ClassVar[TrackType]
    TRACK_TYPE_VIDEO_HD: _ClassVar[TrackType]
    TRACK_TYPE_VIDEO_UHD: _ClassVar[TrackType]

class LicenseDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LICENSE_DECISION_UNSPECIFIED: _ClassVar[LicenseDecision]
    LICENSE_DECISION_GRANTED: _ClassVar[LicenseDecision]
    LICENSE_DECISION_REFUSED: _ClassVar[LicenseDecision]
KEY_SYSTEM_UNSPECIFIED: KeySystem
KEY_SYSTEM_CLEARKEY: KeySystem
KEY_SYSTEM_HLS_AES_128: KeySystem
TRACK_TYPE_UNSPECIFIED: TrackType
TRACK_TYPE_ALL: TrackType
TRACK_TYPE_VIDEO: TrackType
TRACK_TYPE_AUDIO: TrackType
TRACK_TYPE_VIDEO_SD: TrackType
TRACK_TYPE_VIDEO_HD: TrackType
TRACK_TYPE_VIDEO_UHD: TrackType
LICENSE_DECISION_UNSPECIFIED: LicenseDecision
LICENSE_DECISION_GRANTED: LicenseDecision
LICENSE_DECISION_REFUSED: LicenseDecision

class ContentKey(_message.Message):
    __slots__ = ("name", "key_id", "media_asset", "track_type", "key_systems", "key", "iv", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    TRACK_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_SYSTEMS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    IV_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_id: str
    media_asset: str
    track_type: TrackType
    key_systems: _containers.RepeatedScalarFieldContainer[KeySystem]
    key: bytes
    iv: bytes
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., key_id: _Optional[str] = ..., media_asset: _Optional[str] = ..., track_type: _Optional[_Union[TrackType, str]] = ..., key_systems: _Optional[_Iterable[_Union[KeySystem, str]]] = ..., key: _Optional[bytes] = ..., iv: _Optional[bytes] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LicensePolicy(_message.Message):
    __slots__ = ("license_duration", "expire_time", "session", "persistent")
    LICENSE_DURATION_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    license_duration: _duration_pb2.Duration
    expire_time: _timestamp_pb2.Timestamp
    session: str
    persistent: bool
    def __init__(self, license_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session: _Optional[str] = ..., persistent: _Optional[bool] = ...) -> None: ...

class ClearKeyJsonWebKey(_message.Message):
    __slots__ = ("kty", "kid", "k")
    KTY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    kty: str
    kid: str
    k: str
    def __init__(self, kty: _Optional[str] = ..., kid: _Optional[str] = ..., k: _Optional[str] = ...) -> None: ...

class ClearKeyLicenseRequest(_message.Message):
    __slots__ = ("kids", "type")
    KIDS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    kids: _containers.RepeatedScalarFieldContainer[str]
    type: str
    def __init__(self, kids: _Optional[_Iterable[str]] = ..., type: _Optional[str] = ...) -> None: ...

class CreateContentKeyRequest(_message.Message):
    __slots__ = ("content_key",)
    CONTENT_KEY_FIELD_NUMBER: _ClassVar[int]
    content_key: ContentKey
    def __init__(self, content_key: _Optional[_Union[ContentKey, _Mapping]] = ...) -> None: ...

class CreateContentKeyResponse(_message.Message):
    __slots__ = ("content_key",)
    CONTENT_KEY_FIELD_NUMBER: _ClassVar[int]
    content_key: ContentKey
    def __init__(self, content_key: _Optional[_Union[ContentKey, _Mapping]] = ...) -> None: ...

class GetContentKeysRequest(_message.Message):
    __slots__ = ("media_asset", "key_ids")
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    media_asset: str
    key_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, media_asset: _Optional[str] = ..., key_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetContentKeysResponse(_message.Message):
    __slots__ = ("content_keys",)
    CONTENT_KEYS_FIELD_NUMBER: _ClassVar[int]
    content_keys: _containers.RepeatedCompositeFieldContainer[ContentKey]
    def __init__(self, content_keys: _Optional[_Iterable[_Union[ContentKey, _Mapping]]] = ...) -> None: ...

class ListContentKeysRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "media_asset")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ASSET_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    media_asset: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., media_asset: _Optional[str] = ...) -> None: ...

class ListContentKeysResponse(_message.Message):
    __slots__ = ("content_keys", "next_page_token")
    CONTENT_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    content_keys: _containers.RepeatedCompositeFieldContainer[ContentKey]
    next_page_token: str
    def __init__(self, content_keys: _Optional[_Iterable[_Union[ContentKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcquireClearKeyLicenseRequest(_message.Message):
    __slots__ = ("session_token", "license_request")
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LICENSE_REQUEST_FIELD_NUMBER: _ClassVar[int]
    session_token: str
    license_request: ClearKeyLicenseRequest
    def __init__(self, session_token: _Optional[str] = ..., license_request: _Optional[_Union[ClearKeyLicenseRequest, _Mapping]] = ...) -> None: ...

class AcquireClearKeyLicenseResponse(_message.Message):
    __slots__ = ("keys", "type", "policy")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ClearKeyJsonWebKey]
    type: str
    policy: LicensePolicy
    def __init__(self, keys: _Optional[_Iterable[_Union[ClearKeyJsonWebKey, _Mapping]]] = ..., type: _Optional[str] = ..., policy: _Optional[_Union[LicensePolicy, _Mapping]] = ...) -> None: ...

class GetHlsKeyRequest(_message.Message):
    __slots__ = ("key_id", "session_token")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    session_token: str
    def __init__(self, key_id: _Optional[str] = ..., session_token: _Optional[str] = ...) -> None: ...

class GetHlsKeyResponse(_message.Message):
    __slots__ = ("key", "policy")
    KEY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    key: _httpbody_pb2.HttpBody
    policy: LicensePolicy
    def __init__(self, key: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ..., policy: _Optional[_Union[LicensePolicy, _Mapping]] = ...) -> None: ...

class LicenseAudit(_message.Message):
    __slots__ = ("name", "decision", "reason", "key_system", "session", "title", "profile", "region_code", "requested_key_ids", "granted_key_ids", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KEY_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    GRANTED_KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: LicenseDecision
    reason: str
    key_system: KeySystem
    session: str
    title: str
    profile: str
    region_code: str
    requested_key_ids: _containers.RepeatedScalarFieldContainer[str]
    granted_key_ids: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[_Union[LicenseDecision, str]] = ..., reason: _Optional[str] = ..., key_system: _Optional[_Union[KeySystem, str]] = ..., session: _Optional[str] = ..., title: _Optional[str] = ..., profile: _Optional[str] = ..., region_code: _Optional[str] = ..., requested_key_ids: _Optional[_Iterable[str]] = ..., granted_key_ids: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListLicenseAuditsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "session", "decision")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    session: str
    decision: LicenseDecision
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., session: _Optional[str] = ..., decision: _Optional[_Union[LicenseDecision, str]] = ...) -> None: ...

class ListLicenseAuditsResponse(_message.Message):
    __slots__ = ("license_audits", "next_page_token")
    LICENSE_AUDITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    license_audits: _containers.RepeatedCompositeFieldContainer[LicenseAudit]
    next_page_token: str
    def __init__(self, license_audits: _Optional[_Iterable[_Union[LicenseAudit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
