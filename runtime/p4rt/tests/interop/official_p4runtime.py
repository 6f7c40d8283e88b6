"""Builds P4Runtime messages with the official Python bindings (PyPI package
`p4runtime`) and checks byte strings produced by fairshare against them.

Protocol, one request per line on stdin:
  case <name> <hex>      bytes fairshare encoded for the named case below
  p4info <path> <hex>    bytes fairshare encoded after parsing the text file
One answer per request on stdout:
  <name-or-path> <hex of our own encoding> <ok | mismatch | missing>
where "ok" means the official bindings parse fairshare's bytes into a message
equal to the one built here.
"""

import sys

from google.protobuf import text_format
from google.rpc import code_pb2, status_pb2
from p4.config.v1 import p4info_pb2
from p4.v1 import p4data_pb2, p4runtime_pb2 as p4r

TABLE = 0x02000001
ACTION = 0x01000001
METER = 0x14000001
DIRECT_METER = 0x15000001
COUNTER = 0x12000001
DIRECT_COUNTER = 0x13000001
REGISTER = 0x16000001
PROFILE = 0x11000001
DIGEST = 0x17000001
VALUE_SET = 0x03000001


def table_entry(entry):
    entry.table_id = TABLE
    m = entry.match.add()
    m.field_id = 1
    m.exact.value = b"\x0a\x00\x00\x01"
    m = entry.match.add()
    m.field_id = 2
    m.lpm.value = b"\x0a\x00\x00\x00"
    m.lpm.prefix_len = 8
    m = entry.match.add()
    m.field_id = 3
    m.ternary.value = b"\x06"
    m.ternary.mask = b"\xff"
    m = entry.match.add()
    m.field_id = 4
    m.range.low = b"\x04\x00"
    m.range.high = b"\x04\xff"
    m = entry.match.add()
    m.field_id = 5
    m.optional.value = b"\x01"
    entry.action.action.action_id = ACTION
    p = entry.action.action.params.add()
    p.param_id = 1
    p.value = b"\x05"
    p = entry.action.action.params.add()
    p.param_id = 2
    p.value = b"\x00"
    entry.priority = 10
    return entry


def meter_config(config):
    config.cir = 125000
    config.cburst = 10000
    config.pir = 250000
    config.pburst = 20000
    return config


def write_tables():
    req = p4r.WriteRequest()
    req.device_id = 1
    req.election_id.high = 0
    req.election_id.low = 10
    req.atomicity = p4r.WriteRequest.CONTINUE_ON_ERROR
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    table_entry(u.entity.table_entry)
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    e = u.entity.table_entry
    e.table_id = TABLE
    e.is_default_action = True
    e.action.action.action_id = ACTION + 1
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    e = u.entity.table_entry
    e.table_id = TABLE + 1
    m = e.match.add()
    m.field_id = 1
    m.exact.value = b"\x01"
    e.action.action.action_id = ACTION
    meter_config(e.meter_config)
    e.counter_data.byte_count = 0
    e.metadata = b"cookie"
    e.idle_timeout_ns = 1000000000
    u = req.updates.add()
    u.type = p4r.Update.DELETE
    e = u.entity.table_entry
    e.table_id = TABLE
    m = e.match.add()
    m.field_id = 1
    m.exact.value = b"\x0b"
    e.priority = 1
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    e = u.entity.table_entry
    e.table_id = TABLE + 2
    e.action.action_profile_member_id = 7
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    e = u.entity.table_entry
    e.table_id = TABLE + 2
    e.action.action_profile_group_id = 8
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    e = u.entity.table_entry
    e.table_id = TABLE + 2
    a = e.action.action_profile_action_set.action_profile_actions.add()
    a.action.action_id = ACTION
    a.weight = 3
    a.watch_port = b"\x02"
    return req


def write_meters_counters():
    req = p4r.WriteRequest()
    req.device_id = 1
    req.role = "fairshare"
    req.election_id.high = 1
    req.election_id.low = 0
    req.atomicity = p4r.WriteRequest.ROLLBACK_ON_ERROR
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    u.entity.meter_entry.meter_id = METER
    u.entity.meter_entry.index.index = 0
    meter_config(u.entity.meter_entry.config)
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    u.entity.meter_entry.meter_id = METER
    u.entity.meter_entry.index.index = 41
    c = u.entity.meter_entry.config
    c.cir = 1
    c.cburst = 1
    c.pir = 1
    c.pburst = 1
    c.eburst = 2
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    d = u.entity.direct_meter_entry
    d.table_entry.table_id = TABLE + 1
    m = d.table_entry.match.add()
    m.field_id = 1
    m.exact.value = b"\x01"
    meter_config(d.config)
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    u.entity.counter_entry.counter_id = COUNTER
    u.entity.counter_entry.index.index = 3
    u.entity.counter_entry.data.byte_count = 1500
    u.entity.counter_entry.data.packet_count = 1
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    d = u.entity.direct_counter_entry
    d.table_entry.table_id = TABLE + 1
    m = d.table_entry.match.add()
    m.field_id = 1
    m.exact.value = b"\x01"
    d.data.packet_count = 0
    d.data.byte_count = 0
    return req


def write_pre_registers_profiles():
    req = p4r.WriteRequest()
    req.device_id = 1
    req.election_id.low = 1
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    s = u.entity.packet_replication_engine_entry.clone_session_entry
    s.session_id = 100
    r = s.replicas.add()
    r.port = b"\xff"
    r.instance = 1
    r = s.replicas.add()
    r.egress_port = 3
    r = s.replicas.add()
    r.port = b"\x01\x00"
    s.class_of_service = 2
    s.packet_length_bytes = 128
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    g = u.entity.packet_replication_engine_entry.multicast_group_entry
    g.multicast_group_id = 1
    r = g.replicas.add()
    r.port = b"\x01"
    r.instance = 0
    r = g.replicas.add()
    r.port = b"\x02"
    r.instance = 1
    g.metadata = b"grp"
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    reg = u.entity.register_entry
    reg.register_id = REGISTER
    reg.index.index = 5
    reg.data.bitstring = b"\x12\x34"
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    mem = u.entity.action_profile_member
    mem.action_profile_id = PROFILE
    mem.member_id = 7
    mem.action.action_id = ACTION
    p = mem.action.params.add()
    p.param_id = 1
    p.value = b"\x01"
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    grp = u.entity.action_profile_group
    grp.action_profile_id = PROFILE
    grp.group_id = 8
    m = grp.members.add()
    m.member_id = 7
    m.weight = 2
    m.watch_port = b"\x03"
    grp.max_size = 4
    u = req.updates.add()
    u.type = p4r.Update.INSERT
    d = u.entity.digest_entry
    d.digest_id = DIGEST
    d.config.max_timeout_ns = 1000
    d.config.max_list_size = 10
    d.config.ack_timeout_ns = 5000
    u = req.updates.add()
    u.type = p4r.Update.MODIFY
    v = u.entity.value_set_entry
    v.value_set_id = VALUE_SET
    m = v.members.add().match.add()
    m.field_id = 1
    m.exact.value = b"\x08\x00"
    return req


def read_request():
    req = p4r.ReadRequest()
    req.device_id = 1
    req.role = "fairshare"
    req.entities.add().table_entry.SetInParent()
    req.entities.add().table_entry.table_id = TABLE
    req.entities.add().meter_entry.meter_id = METER
    req.entities.add().counter_entry.SetInParent()
    e = req.entities.add().direct_meter_entry
    e.table_entry.table_id = TABLE + 1
    e = req.entities.add().direct_counter_entry
    e.table_entry.SetInParent()
    e = req.entities.add().register_entry
    e.register_id = REGISTER
    e.index.index = 0
    req.entities.add().packet_replication_engine_entry.clone_session_entry.SetInParent()
    return req


def read_response():
    res = p4r.ReadResponse()
    e = res.entities.add().table_entry
    table_entry(e)
    e.is_const = True
    e.time_since_last_hit.elapsed_ns = 42
    e.counter_data.byte_count = 64
    e.counter_data.packet_count = 1
    m = res.entities.add().meter_entry
    m.meter_id = METER
    m.index.index = 2
    meter_config(m.config)
    m.counter_data.green.packet_count = 5
    m.counter_data.yellow.packet_count = 2
    m.counter_data.red.byte_count = 100
    d = res.entities.add().direct_meter_entry
    d.table_entry.table_id = TABLE + 1
    d.counter_data.green.byte_count = 1
    c = res.entities.add().counter_entry
    c.counter_id = COUNTER
    c.index.index = 0
    c.data.SetInParent()
    r = res.entities.add().register_entry
    r.register_id = REGISTER
    r.index.index = 0
    r.data.bitstring = b"\x00"
    return res


def stream_arbitration():
    req = p4r.StreamMessageRequest()
    a = req.arbitration
    a.device_id = 0
    a.role.name = "fairshare"
    a.election_id.high = 1
    a.election_id.low = 2
    return req


def stream_arbitration_default_role():
    req = p4r.StreamMessageRequest()
    req.arbitration.device_id = 3
    req.arbitration.election_id.low = 1
    return req


def stream_packet_out():
    req = p4r.StreamMessageRequest()
    p = req.packet
    p.payload = bytes(range(64))
    m = p.metadata.add()
    m.metadata_id = 1
    m.value = b"\x01\x00"
    m = p.metadata.add()
    m.metadata_id = 2
    m.value = b"\x00"
    return req


def stream_digest_ack():
    req = p4r.StreamMessageRequest()
    req.digest_ack.digest_id = DIGEST
    req.digest_ack.list_id = 9
    return req


def stream_primary():
    res = p4r.StreamMessageResponse()
    a = res.arbitration
    a.device_id = 0
    a.election_id.high = 1
    a.election_id.low = 2
    a.status.code = code_pb2.OK
    a.status.message = "primary"
    return res


def stream_backup():
    res = p4r.StreamMessageResponse()
    a = res.arbitration
    a.device_id = 0
    a.role.name = "fairshare"
    a.election_id.low = 9
    a.status.code = code_pb2.ALREADY_EXISTS
    a.status.message = "a primary is connected"
    return res


def stream_packet_in():
    res = p4r.StreamMessageResponse()
    p = res.packet
    p.payload = b"\x45\x00\x00\x14" + bytes(16)
    m = p.metadata.add()
    m.metadata_id = 1
    m.value = b"\x03"
    return res


def stream_error():
    res = p4r.StreamMessageResponse()
    e = res.error
    e.canonical_code = code_pb2.INVALID_ARGUMENT
    e.message = "packet_out: metadata 2 missing"
    e.packet_out.packet_out.payload = b"\x01\x02"
    return res


def stream_digest():
    res = p4r.StreamMessageResponse()
    d = res.digest
    d.digest_id = DIGEST
    d.list_id = 9
    d.timestamp = 1700000000000000000
    s = d.data.add().struct
    s.members.add().bitstring = b"\x0a\x00\x00\x01"
    s.members.add().bool = True
    s.members.add().enum = "RED"
    h = s.members.add().header
    h.is_valid = True
    h.bitstrings.append(b"\x01")
    h.bitstrings.append(b"\x02")
    v = s.members.add().varbit
    v.bitstring = b"\x01"
    v.bitwidth = 8
    return res


def stream_idle_timeout():
    res = p4r.StreamMessageResponse()
    n = res.idle_timeout_notification
    e = n.table_entry.add()
    e.table_id = TABLE
    e.idle_timeout_ns = 5
    n.timestamp = 77
    return res


def capabilities_request():
    return p4r.CapabilitiesRequest()


def capabilities_response():
    res = p4r.CapabilitiesResponse()
    res.p4runtime_api_version = "1.4.1"
    return res


def get_pipeline_request():
    req = p4r.GetForwardingPipelineConfigRequest()
    req.device_id = 1
    req.response_type = p4r.GetForwardingPipelineConfigRequest.P4INFO_AND_COOKIE
    return req


def write_error_status():
    status = status_pb2.Status()
    status.code = code_pb2.UNKNOWN
    status.message = "1 of 3 updates failed"
    for code, message in [
        (code_pb2.OK, ""),
        (code_pb2.ALREADY_EXISTS, "entry exists"),
        (code_pb2.OK, ""),
    ]:
        error = p4r.Error()
        error.canonical_code = code
        error.message = message
        status.details.add().Pack(error)
    return status


CASES = {f.__name__: f for f in [
    write_tables, write_meters_counters, write_pre_registers_profiles,
    read_request, read_response,
    stream_arbitration, stream_arbitration_default_role, stream_packet_out,
    stream_digest_ack, stream_primary, stream_backup, stream_packet_in,
    stream_error, stream_digest, stream_idle_timeout,
    capabilities_request, capabilities_response, get_pipeline_request,
    write_error_status,
]}


def pipeline_messages(p4info_path, device_config_path):
    """The pipeline cases need a P4Info and a device config from files."""
    info = p4info_pb2.P4Info()
    with open(p4info_path) as f:
        text_format.Parse(f.read(), info)
    with open(device_config_path, "rb") as f:
        device_config = f.read()
    req = p4r.SetForwardingPipelineConfigRequest()
    req.device_id = 1
    req.election_id.low = 10
    req.action = p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
    req.config.p4info.CopyFrom(info)
    req.config.p4_device_config = device_config
    req.config.cookie.cookie = 0xfa12
    res = p4r.GetForwardingPipelineConfigResponse()
    res.config.p4info.CopyFrom(info)
    res.config.cookie.cookie = 0xfa12
    return {"set_pipeline": req, "get_pipeline_response": res}


def answer(name, expected, theirs):
    ours = expected.SerializeToString(deterministic=True)
    parsed = type(expected)()
    try:
        parsed.ParseFromString(theirs)
        verdict = "ok" if parsed == expected else "mismatch"
    except Exception:  # a parse failure is a mismatch, reported as such
        verdict = "mismatch"
    print(name, ours.hex() or "-", verdict, flush=True)


def main():
    cases = dict((name, f()) for name, f in CASES.items())
    if len(sys.argv) == 3:
        cases.update(pipeline_messages(sys.argv[1], sys.argv[2]))
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3:
            continue
        kind, name, theirs = parts
        theirs = b"" if theirs == "-" else bytes.fromhex(theirs)
        if kind == "case":
            if name not in cases:
                print(name, "-", "missing", flush=True)
                continue
            answer(name, cases[name], theirs)
        elif kind == "p4info":
            info = p4info_pb2.P4Info()
            with open(name) as f:
                text_format.Parse(f.read(), info)
            answer(name, info, theirs)


if __name__ == "__main__":
    main()
