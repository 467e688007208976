"""Dump the Unity Catalog model registry service of the installed MLflow wheel as JSON.

The wheel ships no .proto files, only the generated modules that embed each file's
serialized descriptor (mlflow/protos/databricks_uc_registry_service_pb2.py and
databricks_uc_registry_messages_pb2.py). This loads them with the protobuf runtime
MLflow itself uses and writes, for every rpc, its HTTP method and path (the
`databricks.rpc` option, with the "/api/2.0" prefix MLflow's client puts in front:
mlflow/utils/rest_utils.py _REST_API_PATH_PREFIX) and its request and response
messages, and for every message its fields. internal/testing/ucfake/gen trims the result to
the rpcs the fake serves.

    python scripts/dump_uc_protos.py EXPECTED_MLFLOW_VERSION > full.json
"""

import hashlib
import json
import sys

import mlflow
from google.protobuf.descriptor import FieldDescriptor
from mlflow.protos import databricks_pb2
from mlflow.protos import databricks_uc_registry_messages_pb2 as messages_pb2
from mlflow.protos import databricks_uc_registry_service_pb2 as service_pb2

REST_API_PATH_PREFIX = "/api/2.0"

TYPES = {
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_GROUP: "group",
    FieldDescriptor.TYPE_MESSAGE: "message",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_ENUM: "enum",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
}


def sha256(module):
    with open(module.__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def field(f):
    out = {
        "name": f.name,
        "json_name": f.json_name,
        "number": f.number,
        "type": TYPES[f.type],
    }
    if f.is_repeated:
        out["repeated"] = True
    if f.GetOptions().Extensions[databricks_pb2.validate_required]:
        out["required"] = True
    if f.message_type is not None:
        out["message"] = f.message_type.full_name
    if f.enum_type is not None:
        out["enum"] = f.enum_type.full_name
    return out


def walk(m, msgs, enums):
    """Adds message m with its nested messages and enums."""
    msgs[m.full_name] = {"fields": [field(f) for f in m.fields]}
    for e in m.enum_types:
        enums[e.full_name] = [{"name": v.name, "number": v.number} for v in e.values]
    for n in m.nested_types:
        walk(n, msgs, enums)


def main():
    want = sys.argv[1] if len(sys.argv) > 1 else ""
    if want and mlflow.__version__ != want:
        sys.exit(f"dump_uc_protos: the installed MLflow is {mlflow.__version__}, want {want}")
    msgs, enums = {}, {}
    for file_desc in (messages_pb2.DESCRIPTOR, service_pb2.DESCRIPTOR):
        for e in file_desc.enum_types_by_name.values():
            enums[e.full_name] = [{"name": v.name, "number": v.number} for v in e.values]
        for m in file_desc.message_types_by_name.values():
            walk(m, msgs, enums)
    services = {}
    for svc in service_pb2.DESCRIPTOR.services_by_name.values():
        rpcs = {}
        for method in svc.methods:
            endpoints = method.GetOptions().Extensions[databricks_pb2.rpc].endpoints
            rpcs[method.name] = {
                "endpoints": [
                    {"method": e.method, "path": REST_API_PATH_PREFIX + e.path} for e in endpoints
                ],
                "request": method.input_type.full_name,
                "response": method.output_type.full_name,
            }
        services[svc.full_name] = rpcs
    files = ", ".join(
        f"mlflow/protos/{m.__name__.rsplit('.', 1)[1]}.py (sha256 {sha256(m)})"
        for m in (service_pb2, messages_pb2)
    )
    json.dump(
        {
            "source": f"mlflow=={mlflow.__version__} {files}",
            "services": services,
            "messages": msgs,
            "enums": enums,
        },
        sys.stdout,
        indent=1,
        sort_keys=True,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
