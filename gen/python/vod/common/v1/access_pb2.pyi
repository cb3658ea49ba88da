from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class AccessClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_CLASS_UNSPECIFIED: _ClassVar[AccessClass]
    ACCESS_CLASS_PUBLIC: _ClassVar[AccessClass]
    ACCESS_CLASS_VIEWER: _ClassVar[AccessClass]
    ACCESS_CLASS_ADMIN: _ClassVar[AccessClass]
    ACCESS_CLASS_INTERNAL: _ClassVar[AccessClass]
ACCESS_CLASS_UNSPECIFIED: AccessClass
ACCESS_CLASS_PUBLIC: AccessClass
ACCESS_CLASS_VIEWER: AccessClass
ACCESS_CLASS_ADMIN: AccessClass
ACCESS_CLASS_INTERNAL: AccessClass
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor
