from vod.common.v1 import event_pb2 as _event_pb2
from vod.experiments.v1 import experiments_pb2 as _experiments_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExperimentChange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPERIMENT_CHANGE_UNSPECIFIED: _ClassVar[ExperimentChange]
    EXPERIMENT_CHANGE_CREATED: _ClassVar[ExperimentChange]
    EXPERIMENT_CHANGE_STATE: _ClassVar[ExperimentChange]
    EXPERIMENT_CHANGE_FORCED: _ClassVar[ExperimentChange]
EXPERIMENT_CHANGE_UNSPECIFIED: ExperimentChange
EXPERIMENT_CHANGE_CREATED: ExperimentChange
EXPERIMENT_CHANGE_STATE: ExperimentChange
EXPERIMENT_CHANGE_FORCED: ExperimentChange

class ExperimentExposed(_message.Message):
    __slots__ = ("meta", "profile", "response_id", "surface", "region_code", "exposure")
    META_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    profile: str
    response_id: str
    surface: str
    region_code: str
    exposure: _experiments_pb2.Exposure
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., profile: _Optional[str] = ..., response_id: _Optional[str] = ..., surface: _Optional[str] = ..., region_code: _Optional[str] = ..., exposure: _Optional[_Union[_experiments_pb2.Exposure, _Mapping]] = ...) -> None: ...

class ExperimentChanged(_message.Message):
    __slots__ = ("meta", "experiment", "layer", "change", "state", "profile")
    META_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    meta: _event_pb2.EventMeta
    experiment: str
    layer: str
    change: ExperimentChange
    state: _experiments_pb2.ExperimentState
    profile: str
    def __init__(self, meta: _Optional[_Union[_event_pb2.EventMeta, _Mapping]] = ..., experiment: _Optional[str] = ..., layer: _Optional[str] = ..., change: _Optional[_Union[ExperimentChange, str]] = ..., state: _Optional[_Union[_experiments_pb2.ExperimentState, str]] = ..., profile: _Optional[str] = ...) -> None: ...
