"""A protoc plugin that runs grpcio-tools' built-in Python, .pyi and gRPC generators.

buf cannot reach remote plugins here and grpcio-tools ships no standalone plugin binaries, so
`buf generate` calls this plugin (scripts/protoc-gen-vodpython): it receives buf's
CodeGeneratorRequest, hands the already-compiled descriptors to grpc_tools.protoc through
--descriptor_set_in, and returns the generated files in a CodeGeneratorResponse.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fds = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
        (work / "in.binpb").write_bytes(fds.SerializeToString())
        out = work / "out"
        out.mkdir()
        args = [
            "protoc",
            f"--descriptor_set_in={work / 'in.binpb'}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *request.file_to_generate,
        ]
        if protoc.main(args) != 0:
            response.error = "grpc_tools.protoc failed for " + ", ".join(request.file_to_generate)
            return response
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            response.file.add(name=str(path.relative_to(out)), content=path.read_text())
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
