"""Drives a P4Runtime device with the official p4runtime-shell (PyPI
`p4runtime-shell`), as a controller would: pushes a pipeline, becomes
primary, writes, reads and deletes table entries, sets a meter, reads
counters, sends a packet-out and waits for a packet-in.

Usage: p4runtime_shell_driver.py ADDR P4INFO_TXT BMV2_JSON PACKET_OUT_HEX

Progress and results are JSON lines on stdout; the caller reacts to
`{"event": "packet-out-sent"}` (checks the packet left the switch) and to
`{"event": "waiting-for-packet-in"}` (makes the switch punt a packet).
Any failed check raises, so the exit status is non-zero.
"""

import json
import logging
import sys

import p4runtime_sh.shell as sh
from google.protobuf import text_format
from p4runtime_sh.bytes_utils import to_canonical_bytes
from p4runtime_sh.p4runtime import P4RuntimeWriteException


def say(**fields):
    print(json.dumps(fields), flush=True)


def one_line(msg):
    return text_format.MessageToString(msg, as_one_line=True)


def canonical(entry):
    """A copy of a written table entry as the switch reads it back: the
    shell may pad values to full width, the switch answers with the
    shortest form."""
    msg = type(entry.msg())()
    msg.CopyFrom(entry.msg())
    for m in msg.match:
        kind = m.WhichOneof("field_match_type")
        inner = getattr(m, kind)
        for name in ("value", "mask", "low", "high"):
            if hasattr(inner, name):
                setattr(inner, name, to_canonical_bytes(getattr(inner, name)))
    for param in msg.action.action.params:
        param.value = to_canonical_bytes(param.value)
    return msg


def main():
    addr, p4info, bmv2_json, packet_out_hex = sys.argv[1:5]
    logging.basicConfig(level=logging.WARNING)
    sh.setup(
        device_id=0,
        grpc_addr=addr,
        election_id=(0, 1),
        config=sh.FwdPipeConfig(p4info, bmv2_json),
        verbose=False,
    )
    say(event="primary", pipeline="pushed")

    # An lpm route and a ternary steering entry with a priority.
    route = sh.TableEntry("Ingress.ipv4_lpm")(action="Ingress.forward")
    route.match["hdr.ipv4.dst_addr"] = "10.0.0.0/8"
    route.action["port"] = "2"
    route.action["src_mac"] = "02:00:00:00:00:aa"
    route.action["dst_mac"] = "02:00:00:00:00:bb"
    route.insert()
    steer = sh.TableEntry("Ingress.steer")(action="Ingress.dnat")
    steer.match["meta.service"] = "1"
    steer.match["meta.edge"] = "3&&&0xff"
    steer.priority = 7
    steer.action["server"] = "10.0.0.1"
    steer.insert()

    routes = list(sh.TableEntry("Ingress.ipv4_lpm").read())
    assert [r.msg() for r in routes] == [canonical(route)], [one_line(r.msg()) for r in routes]
    steers = list(sh.TableEntry("Ingress.steer").read())
    assert [s.msg() for s in steers] == [canonical(steer)], ([one_line(s.msg()) for s in steers], one_line(canonical(steer)))
    say(event="read", entries=[one_line(r.msg()) for r in routes + steers])

    # A duplicate insert is refused by the switch.
    try:
        route.insert()
        raise AssertionError("a duplicate insert was accepted")
    except P4RuntimeWriteException as e:
        say(event="duplicate-refused", error=str(e).strip())

    steer.delete()
    left = list(sh.TableEntry("Ingress.steer").read())
    assert left == [], [one_line(s.msg()) for s in left]
    say(event="deleted")

    meter = sh.MeterEntry("Ingress.rsvp_meter")
    meter.index = 0
    meter.cir = 100
    meter.cburst = 10
    meter.pir = 200
    meter.pburst = 20
    meter.modify()
    cells = list(sh.MeterEntry("Ingress.rsvp_meter").read())
    assert len(cells) == 1, len(cells)
    got = cells[0].msg().config
    assert (got.cir, got.cburst, got.pir, got.pburst) == (100, 10, 200, 20), one_line(got)
    say(event="meter", config=one_line(got))

    drops = list(sh.CounterEntry("Ingress.drops").read())
    assert len(drops) == 9, len(drops)
    say(event="counters", cells=len(drops))

    out = sh.PacketOut(bytes.fromhex(packet_out_hex))
    out.metadata["egress_port"] = "2"
    out.metadata["_pad"] = "0"
    out.send()
    say(event="packet-out-sent")

    say(event="waiting-for-packet-in")
    # The shell's PacketIn.sniff waits out its whole timeout; the client's
    # stream queue returns as soon as the packet is there.
    msg = sh.client.get_stream_packet("packet", timeout=10)
    assert msg is not None, "expected a packet-in within 10 s, found none"
    pin = msg.packet
    say(
        event="packet-in",
        payload=pin.payload.hex(),
        metadata={str(m.metadata_id): m.value.hex() for m in pin.metadata},
    )
    say(event="done")


if __name__ == "__main__":
    try:
        main()
    finally:
        # The shell's stream threads keep the process alive until torn down.
        # (A failed setup has torn its client down already.)
        if sh.client is not None and hasattr(sh.client, "channel"):
            sh.teardown()
