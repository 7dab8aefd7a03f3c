#!/usr/bin/env python3
"""hostile_agent.py SOCKET: a shed agent that abuses the agent channel
(docs/agent.md: framing [type u8][len u32 BE][msgpack], messages of
agent/agent_msg.h) for integration/test_hostile_agent.sh. Phases:
  1. HELLO with forged strings (newlines, quotes, '|'), 3000 service
     registrations, then LOG lines on 2000 distinct stream names;
  2. an agent -> host chunk stream declaring 300 KiB (over the 256 KiB bound);
  3. a flood of 20000 LOG frames in one write (over the rate: abuse close);
  4. 100 connect/close in a loop (over the reconnect rate).
Only the standard library: a minimal msgpack encoder for what it sends."""
import socket
import struct
import sys
import time

HELLO, LOG, SERVICE_REGISTER, CHUNK = 1, 6, 7, 14


def pack(o):
    if o is True:
        return b"\xc3"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        return b"\xcf" + struct.pack(">Q", o)
    if isinstance(o, str):
        b = o.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b if len(b) < 256 else b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(o, bytes):
        return b"\xc6" + struct.pack(">I", len(o)) + o
    if isinstance(o, dict):
        out = bytes([0x80 | len(o)]) if len(o) < 16 else b"\xde" + struct.pack(">H", len(o))
        for k in sorted(o):
            out += pack(k) + pack(o[k])
        return out
    raise TypeError(o)


def frame(mtype, fields):
    body = {0: 1, 1: mtype}
    body.update(fields)
    payload = pack(body)
    return bytes([mtype]) + struct.pack(">I", len(payload)) + payload


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def send(s, data):
    try:
        s.sendall(data)
        return True
    except OSError:
        return False


def hello(s, version="1.0", shed="evil"):
    send(s, frame(HELLO, {2: version, 3: 0x7f, 5: shed}))


def main():
    path = sys.argv[1]
    # 1. forged HELLO, thousands of services, thousands of log streams
    s = connect(path)
    hello(s, version='1\nlevel=error msg="forged"', shed='x" role=root|a=b\nlevel=error')
    regs = b"".join(frame(SERVICE_REGISTER, {2: "svc-%d" % i, 3: 8000 + i % 1000})
                    for i in range(3000))
    send(s, regs)
    time.sleep(2.5)                                 # the message bucket refills
    logs = b"".join(frame(LOG, {2: "stream-%d" % i, 3: 1, 5: "line %d" % i})
                    for i in range(2000))
    send(s, logs)
    time.sleep(1.0)
    s.close()
    time.sleep(0.5)
    # 2. an oversized agent -> host stream
    s = connect(path)
    hello(s)
    send(s, frame(CHUNK, {2: 9, 3: LOG, 4: 0, 5: 300 << 10, 7: b"\0" * (64 << 10)}))
    time.sleep(0.5)
    s.close()
    time.sleep(0.5)
    # 3. a flood over the message rate
    s = connect(path)
    hello(s)
    one = frame(LOG, {2: "stream-0", 3: 2, 5: "flood"})
    send(s, one * 20000)
    time.sleep(1.0)
    s.close()
    time.sleep(2.5)                                 # past the abuse cooldown
    # 4. a reconnect loop
    for _ in range(100):
        try:
            connect(path).close()
        except OSError:
            pass
    print("hostile agent done")


if __name__ == "__main__":
    main()
