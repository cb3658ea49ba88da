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

class ExperimentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPERIMENT_STATE_UNSPECIFIED: _ClassVar[ExperimentState]
    EXPERIMENT_STATE_DRAFT: _ClassVar[ExperimentState]
    EXPERIMENT_STATE_RUNNING: _ClassVar[ExperimentState]
    EXPERIMENT_STATE_STOPPED: _ClassVar[ExperimentState]

class ProfileAge(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROFILE_AGE_UNSPECIFIED: _ClassVar[ProfileAge]
    PROFILE_AGE_ALL: _ClassVar[ProfileAge]
    PROFILE_AGE_NEW: _ClassVar[ProfileAge]
    PROFILE_AGE_EXISTING: _ClassVar[ProfileAge]

class Metric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_UNSPECIFIED: _ClassVar[Metric]
    METRIC_PLAYS_PER_PROFILE_DAY: _ClassVar[Metric]
    METRIC_HOURS_PER_PROFILE_DAY: _ClassVar[Metric]
    METRIC_RETENTION_7D: _ClassVar[Metric]
    METRIC_TTFF_MS: _ClassVar[Metric]
    METRIC_PLAY_ERROR_RATE: _ClassVar[Metric]
EXPERIMENT_STATE_UNSPECIFIED: ExperimentState
EXPERIMENT_STATE_DRAFT: ExperimentState
EXPERIMENT_STATE_RUNNING: ExperimentState
EXPERIMENT_STATE_STOPPED: ExperimentState
PROFILE_AGE_UNSPECIFIED: ProfileAge
PROFILE_AGE_ALL: ProfileAge
PROFILE_AGE_NEW: ProfileAge
PROFILE_AGE_EXISTING: ProfileAge
METRIC_UNSPECIFIED: Metric
METRIC_PLAYS_PER_PROFILE_DAY: Metric
METRIC_HOURS_PER_PROFILE_DAY: Metric
METRIC_RETENTION_7D: Metric
METRIC_TTFF_MS: Metric
METRIC_PLAY_ERROR_RATE: Metric

class Variant(_message.Message):
    __slots__ = ("id", "share_percent", "parameters")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SHARE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    share_percent: int
    parameters: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., share_percent: _Optional[int] = ..., parameters: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Targeting(_message.Message):
    __slots__ = ("region_codes", "plans", "profile_age")
    REGION_CODES_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_AGE_FIELD_NUMBER: _ClassVar[int]
    region_codes: _containers.RepeatedScalarFieldContainer[str]
    plans: _containers.RepeatedScalarFieldContainer[str]
    profile_age: ProfileAge
    def __init__(self, region_codes: _Optional[_Iterable[str]] = ..., plans: _Optional[_Iterable[str]] = ..., profile_age: _Optional[_Union[ProfileAge, str]] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ("name", "display_name", "layer", "variants", "layer_share_percent", "traffic_percent", "targeting", "start_time", "end_time", "primary_metric", "guardrail_metrics", "state", "salt", "first_bucket", "bucket_count", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    LAYER_SHARE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TARGETING_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_METRIC_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_METRICS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    FIRST_BUCKET_FIELD_NUMBER: _ClassVar[int]
    BUCKET_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    layer: str
    variants: _containers.RepeatedCompositeFieldContainer[Variant]
    layer_share_percent: int
    traffic_percent: int
    targeting: Targeting
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    primary_metric: Metric
    guardrail_metrics: _containers.RepeatedScalarFieldContainer[Metric]
    state: ExperimentState
    salt: str
    first_bucket: int
    bucket_count: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., layer: _Optional[str] = ..., variants: _Optional[_Iterable[_Union[Variant, _Mapping]]] = ..., layer_share_percent: _Optional[int] = ..., traffic_percent: _Optional[int] = ..., targeting: _Optional[_Union[Targeting, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., primary_metric: _Optional[_Union[Metric, str]] = ..., guardrail_metrics: _Optional[_Iterable[_Union[Metric, str]]] = ..., state: _Optional[_Union[ExperimentState, str]] = ..., salt: _Optional[str] = ..., first_bucket: _Optional[int] = ..., bucket_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateExperimentRequest(_message.Message):
    __slots__ = ("experiment", "experiment_id")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    experiment_id: str
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., experiment_id: _Optional[str] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class GetExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class UpdateExperimentStateResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = ("layer",)
    LAYER_FIELD_NUMBER: _ClassVar[int]
    layer: str
    def __init__(self, layer: _Optional[str] = ...) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ("experiments",)
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[Experiment]
    def __init__(self, experiments: _Optional[_Iterable[_Union[Experiment, _Mapping]]] = ...) -> None: ...

class UpdateExperimentStateRequest(_message.Message):
    __slots__ = ("name", "state", "traffic_percent")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_PERCENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: ExperimentState
    traffic_percent: int
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[ExperimentState, str]] = ..., traffic_percent: _Optional[int] = ...) -> None: ...

class ForceVariantRequest(_message.Message):
    __slots__ = ("name", "profile", "variant")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    name: str
    profile: str
    variant: str
    def __init__(self, name: _Optional[str] = ..., profile: _Optional[str] = ..., variant: _Optional[str] = ...) -> None: ...

class ForceVariantResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("experiment", "layer", "variant", "parameters", "forced")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    FORCED_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    layer: str
    variant: str
    parameters: _containers.ScalarMap[str, str]
    forced: bool
    def __init__(self, experiment: _Optional[str] = ..., layer: _Optional[str] = ..., variant: _Optional[str] = ..., parameters: _Optional[_Mapping[str, str]] = ..., forced: _Optional[bool] = ...) -> None: ...

class GetAssignmentsRequest(_message.Message):
    __slots__ = ("profile", "region_code", "plan", "profile_create_time")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    PROFILE_CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    profile: str
    region_code: str
    plan: str
    profile_create_time: _timestamp_pb2.Timestamp
    def __init__(self, profile: _Optional[str] = ..., region_code: _Optional[str] = ..., plan: _Optional[str] = ..., profile_create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAssignmentsResponse(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class Exposure(_message.Message):
    __slots__ = ("experiment", "variant", "rows", "artwork", "forced")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ARTWORK_FIELD_NUMBER: _ClassVar[int]
    FORCED_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    variant: str
    rows: _containers.RepeatedScalarFieldContainer[str]
    artwork: _containers.RepeatedScalarFieldContainer[str]
    forced: bool
    def __init__(self, experiment: _Optional[str] = ..., variant: _Optional[str] = ..., rows: _Optional[_Iterable[str]] = ..., artwork: _Optional[_Iterable[str]] = ..., forced: _Optional[bool] = ...) -> None: ...

class RecordExposuresRequest(_message.Message):
    __slots__ = ("profile", "response_id", "surface", "region_code", "exposures")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    SURFACE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    profile: str
    response_id: str
    surface: str
    region_code: str
    exposures: _containers.RepeatedCompositeFieldContainer[Exposure]
    def __init__(self, profile: _Optional[str] = ..., response_id: _Optional[str] = ..., surface: _Optional[str] = ..., region_code: _Optional[str] = ..., exposures: _Optional[_Iterable[_Union[Exposure, _Mapping]]] = ...) -> None: ...

class RecordExposuresResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    def __init__(self, recorded: _Optional[int] = ...) -> None: ...

class GetExperimentReportRequest(_message.Message):
    __slots__ = ("name", "confidence_percent")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    confidence_percent: int
    def __init__(self, name: _Optional[str] = ..., confidence_percent: _Optional[int] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ("metric", "profiles", "mean", "delta", "delta_ci_low", "delta_ci_high", "relative_delta", "p_value", "cuped", "variance_reduction")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    DELTA_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    DELTA_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_DELTA_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    CUPED_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_REDUCTION_FIELD_NUMBER: _ClassVar[int]
    metric: Metric
    profiles: int
    mean: float
    delta: float
    delta_ci_low: float
    delta_ci_high: float
    relative_delta: float
    p_value: float
    cuped: bool
    variance_reduction: float
    def __init__(self, metric: _Optional[_Union[Metric, str]] = ..., profiles: _Optional[int] = ..., mean: _Optional[float] = ..., delta: _Optional[float] = ..., delta_ci_low: _Optional[float] = ..., delta_ci_high: _Optional[float] = ..., relative_delta: _Optional[float] = ..., p_value: _Optional[float] = ..., cuped: _Optional[bool] = ..., variance_reduction: _Optional[float] = ...) -> None: ...

class VariantReport(_message.Message):
    __slots__ = ("variant", "exposed_profiles", "exposures", "expected_share_percent", "primary", "guardrails")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_PROFILES_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHARE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    variant: str
    exposed_profiles: int
    exposures: int
    expected_share_percent: int
    primary: MetricResult
    guardrails: _containers.RepeatedCompositeFieldContainer[MetricResult]
    def __init__(self, variant: _Optional[str] = ..., exposed_profiles: _Optional[int] = ..., exposures: _Optional[int] = ..., expected_share_percent: _Optional[int] = ..., primary: _Optional[_Union[MetricResult, _Mapping]] = ..., guardrails: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ...) -> None: ...

class GetExperimentReportResponse(_message.Message):
    __slots__ = ("experiment", "variants", "srm_p_value", "sample_ratio_mismatch", "guardrail_violations", "confidence_percent", "summary")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SRM_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATIO_MISMATCH_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    variants: _containers.RepeatedCompositeFieldContainer[VariantReport]
    srm_p_value: float
    sample_ratio_mismatch: bool
    guardrail_violations: _containers.RepeatedScalarFieldContainer[str]
    confidence_percent: int
    summary: str
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., variants: _Optional[_Iterable[_Union[VariantReport, _Mapping]]] = ..., srm_p_value: _Optional[float] = ..., sample_ratio_mismatch: _Optional[bool] = ..., guardrail_violations: _Optional[_Iterable[str]] = ..., confidence_percent: _Optional[int] = ..., summary: _Optional[str] = ...) -> None: ...
