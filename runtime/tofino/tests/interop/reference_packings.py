"""Packs Tofino device configs with Google's protobuf library and with
Python's struct module, as independent references for the Rust packer.

Reads one JSON object per line on stdin:
  {"p4_name": str, "bfrt": hex, "pipelines": [{"name": str,
   "pipe_scope": [int], "binary": hex, "context": hex}]}
and writes one JSON object per line on stdout:
  {"bfrt": hex, "legacy": hex or null}
"legacy" is null unless there is exactly one pipeline.

The BfPipelineConfig message is described here field by field, from the
field numbers of Stratum's definition, and encoded by the protobuf runtime.
"""

import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def message_class(descriptor):
    """The generated class of a message, across protobuf releases."""
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory().GetPrototype(descriptor)


F = descriptor_pb2.FieldDescriptorProto


def field(message, name, number, kind, repeated=False, type_name=None):
    f = message.field.add()
    f.name = name
    f.number = number
    f.type = kind
    f.label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
    if type_name:
        f.type_name = type_name


def build_class():
    file = descriptor_pb2.FileDescriptorProto()
    file.name = "reference_bf_pipeline_config.proto"
    file.package = "reference"
    file.syntax = "proto3"
    top = file.message_type.add()
    top.name = "BfPipelineConfig"
    profile = top.nested_type.add()
    profile.name = "Profile"
    field(profile, "profile_name", 1, F.TYPE_STRING)
    field(profile, "context", 2, F.TYPE_BYTES)
    field(profile, "binary", 3, F.TYPE_BYTES)
    field(profile, "pipe_scope", 4, F.TYPE_UINT32, repeated=True)
    field(top, "p4_name", 1, F.TYPE_STRING)
    field(top, "bfruntime_info", 2, F.TYPE_BYTES)
    field(top, "profiles", 3, F.TYPE_MESSAGE, repeated=True,
          type_name=".reference.BfPipelineConfig.Profile")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_class(pool.FindMessageTypeByName("reference.BfPipelineConfig"))


def main():
    config_class = build_class()
    for line in sys.stdin:
        case = json.loads(line)
        config = config_class()
        config.p4_name = case["p4_name"]
        config.bfruntime_info = bytes.fromhex(case["bfrt"])
        for p in case["pipelines"]:
            profile = config.profiles.add()
            profile.profile_name = p["name"]
            profile.pipe_scope.extend(p["pipe_scope"])
            profile.binary = bytes.fromhex(p["binary"])
            profile.context = bytes.fromhex(p["context"])
        legacy = None
        if len(case["pipelines"]) == 1:
            p = case["pipelines"][0]
            out = b""
            for part in (case["p4_name"].encode(), bytes.fromhex(p["binary"]),
                         bytes.fromhex(p["context"])):
                out += struct.pack("<I", len(part)) + part
            legacy = out.hex()
        print(json.dumps({"bfrt": config.SerializeToString().hex(),
                          "legacy": legacy}), flush=True)


if __name__ == "__main__":
    main()
