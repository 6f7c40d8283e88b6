"""The scapy side of tests/scapy.rs.

Reads a JSON object from stdin: {"messages": [hex, ...], "frames": [hex, ...]}
(RSVP messages and Ethernet frames that fairshare emitted). Writes one JSON
object to stdout:
  built:     messages and frames scapy builds, with the values it was given
             and the values scapy itself reads back from them;
  dissected: what scapy reads from each of our messages, and the checksum
             scapy computes for it;
  frames:    what scapy reads from each of our frames, and its IPv4 checksum.
"""

import json
import struct
import sys

from scapy.all import raw, Ether, IP, IPOption_Router_Alert
from scapy.contrib.rsvp import (
    RSVP, RSVP_Object, RSVP_Data, RSVP_HOP, RSVP_Time, RSVP_SenderTSPEC,
)


def obj(cls, ctype, payload):
    return RSVP_Object(Length=4 + len(raw(payload)), Class=cls, C_Type=ctype) / payload


def data(b):
    return RSVP_Data(Data=bytes(b))


def ip4(s):
    return [int(x) for x in s.split(".")]


def session(dest, proto, port):
    return obj(1, 1, data(ip4(dest) + [proto, 0] + list(struct.pack(">H", port))))


def filter_like(cls, addr, port):
    return obj(cls, 1, data(ip4(addr) + [0, 0] + list(struct.pack(">H", port))))


def bucket(r, b, p, m, M):
    return struct.pack(">BBHfffII", 127, 0, 5, r, b, p, m, M)


def tspec(r, b, p, m, M):
    return obj(12, 2, RSVP_SenderTSPEC(Msg_Format=0, Data_Length=7, Srv_hdr=1,
                                       Srv_Length=6, Tokens=bucket(r, b, p, m, M)))


def cl_flowspec(r, b, p, m, M):
    return obj(9, 2, data(struct.pack(">HHBBH", 0, 7, 5, 0, 6) + bucket(r, b, p, m, M)))


def walk(b):
    """Reads a message with scapy's layers. scapy's RSVP_Object stops
    dissecting after a SESSION of C-Type 1 (it only knows C-Type 7), so each
    object is handed to RSVP_Object on its own, at the offset scapy's own
    Length field gives."""
    d = RSVP(b[:8])
    out = {"version": d.Version, "flags": d.Flags, "type": d.Class, "ttl": d.TTL,
           "length": d.Length, "chksum": d.chksum, "objects": []}
    pos = 8
    while pos + 4 <= min(len(b), d.Length):
        o = RSVP_Object(b[pos:])
        out["objects"].append([o.Class, o.C_Type, o.Length])
        if o.haslayer(RSVP_HOP):
            out["hop"] = {"neighbor": o[RSVP_HOP].neighbor, "inface": o[RSVP_HOP].inface}
        if o.haslayer(RSVP_Time):
            out["refresh"] = o[RSVP_Time].refresh
        if o.haslayer(RSVP_SenderTSPEC):
            t = o[RSVP_SenderTSPEC]
            out["tspec_header"] = [t.Msg_Format, t.Data_Length, t.Srv_hdr, t.Srv_Length]
        if o.Length < 4:
            break
        pos += o.Length
    return out


def values(pkt):
    """What scapy itself reads from a built RSVP message."""
    return walk(raw(pkt))


def build():
    tb = (2.5e6, 12000.0, 3.0e6, 64, 1500)
    hop = RSVP_HOP(neighbor="10.1.0.1", inface=3)
    path = (RSVP(Class=1, TTL=64)
            / session("198.51.100.7", 17, 5004)
            / obj(3, 1, hop)
            / obj(5, 1, RSVP_Time(refresh=30000))
            / filter_like(11, "10.1.0.11", 4000)
            / tspec(*tb))
    resv = (RSVP(Class=2, TTL=63, Flags=0)
            / session("198.51.100.7", 17, 5004)
            / obj(3, 1, RSVP_HOP(neighbor="10.2.0.1", inface=7))
            / obj(5, 1, RSVP_Time(refresh=45000))
            / obj(8, 1, data([0, 0, 0, 0x0a]))
            / cl_flowspec(1.25e6, 8000.0, 2.0e6, 128, 9000)
            / filter_like(10, "10.1.0.11", 4000))
    tear = (RSVP(Class=5, TTL=64)
            / session("198.51.100.7", 17, 5004)
            / obj(3, 1, RSVP_HOP(neighbor="10.1.0.1", inface=3))
            / filter_like(11, "10.1.0.11", 4000)
            / tspec(*tb))
    perr = (RSVP(Class=3, TTL=64)
            / session("198.51.100.7", 17, 5004)
            / obj(6, 1, data(ip4("10.9.0.1") + [0, 1, 0, 2]))
            / filter_like(11, "10.1.0.11", 4000)
            / tspec(*tb))
    given = {
        "path": {"session": ["198.51.100.7", 17, 5004], "template": ["10.1.0.11", 4000],
                 "tspec": list(tb)},
        "resv": {"session": ["198.51.100.7", 17, 5004], "style": 0x0a,
                 "flowspec": [1.25e6, 8000.0, 2.0e6, 128, 9000], "filter": ["10.1.0.11", 4000]},
        "pathtear": {"session": ["198.51.100.7", 17, 5004], "template": ["10.1.0.11", 4000],
                     "tspec": list(tb)},
        "patherr": {"session": ["198.51.100.7", 17, 5004], "error": ["10.9.0.1", 1, 2],
                    "template": ["10.1.0.11", 4000], "tspec": list(tb)},
    }
    out = []
    for name, pkt in [("path", path), ("resv", resv), ("pathtear", tear), ("patherr", perr)]:
        out.append({"name": name, "hex": raw(pkt).hex(), "given": given[name],
                    "scapy": values(pkt)})
    frame = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="10.1.0.1", dst="198.51.100.7", ttl=64, options=[IPOption_Router_Alert()])
             / path)
    return out, {"hex": raw(frame).hex(), "src": "10.1.0.1", "dst": "198.51.100.7", "ttl": 64}


def dissect(hexes):
    out = []
    for h in hexes:
        b = bytes.fromhex(h)
        ours = walk(b)
        q = RSVP(b)
        q.chksum = None
        ours["scapy_chksum"] = struct.unpack(">H", raw(q)[2:4])[0]
        out.append(ours)
    return out


def frames(hexes):
    out = []
    for h in hexes:
        e = Ether(bytes.fromhex(h))
        ip = e[IP]
        q = IP(raw(ip))
        q.chksum = None
        recomputed = IP(raw(q)).chksum
        out.append({"src": ip.src, "dst": ip.dst, "ttl": ip.ttl, "proto": ip.proto,
                    "chksum": ip.chksum, "scapy_chksum": recomputed,
                    "router_alert": any(opt.option == 20 for opt in ip.options),
                    "rsvp_type": e[RSVP].Class})
    return out


def main():
    req = json.load(sys.stdin)
    built, frame = build()
    json.dump({"built": built, "built_frame": frame, "dissected": dissect(req["messages"]),
               "frames": frames(req["frames"])}, sys.stdout)


main()
