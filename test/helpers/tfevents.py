#!/usr/bin/python3
"""Reads a TensorBoard event file without TensorFlow: checks every record's masked CRC-32C
and decodes the Event protos by hand (wire format), printing tags, steps and values as JSON.
Independent of the protobufjs encoder that wrote the file."""
import json, struct, sys

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def fields(buf):
    i, out = 0, []
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v = buf[i:i + 8]; i += 8
        elif wire == 2:
            n, i = varint(buf, i); v = buf[i:i + n]; i += n
        elif wire == 5:
            v = buf[i:i + 4]; i += 4
        else:
            raise ValueError(wire)
        out.append((num, wire, v))
    return out

def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]; i += 1
        result |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80:
            return result, i

events = []
data = open(sys.argv[1], "rb").read()
at = 0
while at < len(data):
    n = struct.unpack("<Q", data[at:at + 8])[0]
    assert struct.unpack("<I", data[at + 8:at + 12])[0] == masked(data[at:at + 8]), "length crc"
    body = data[at + 12:at + 12 + n]
    assert struct.unpack("<I", data[at + 12 + n:at + 16 + n])[0] == masked(body), "data crc"
    at += 16 + n
    ev = {}
    for num, wire, v in fields(body):
        if num == 2: ev["step"] = v
        if num == 3: ev["file_version"] = v.decode()
        if num == 5:
            for _, _, val in fields(v):
                for vn, vw, vv in fields(val):
                    if vn == 1: ev["tag"] = vv.decode()
                    if vn == 2: ev["value"] = struct.unpack("<f", vv)[0]
                    if vn == 5: ev["histogram"] = {n2: (struct.unpack("<d", v2)[0] if w2 == 1 else len(v2) // 8) for n2, w2, v2 in fields(vv) if n2 in (1, 2, 3, 6)}
    events.append(ev)
print(json.dumps(events))
