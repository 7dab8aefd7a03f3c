#!/usr/bin/env python3
"""reload_agent.py SOCKET GO_FILE: a well-behaved shed agent for
integration/test_reload.sh (framing [type u8][len u32 BE][msgpack],
agent/proto/agent_proto.h). Steps, each printed as one line on stdout:
  1. HELLO, wait for the HELLO_ACK        -> "ack1 msgs=N bytes=N"
     register services svc-0 and svc-1    -> "registered 2"
  2. wait for GO_FILE (the test edits the node's config and sends SIGHUP
     first), heartbeating meanwhile; wait for a second HELLO_ACK on the same
     connection (the node telling running agents its new limits)
                                          -> "ack2 msgs=N bytes=N"
  3. register svc-2 .. svc-9, then send 40 LOG frames in one write
                                          -> "sent"
Exits 1 if an ACK does not come in time. Standard library only."""
import os
import socket
import struct
import sys
import time

HELLO, HELLO_ACK, HEARTBEAT, LOG, SERVICE_REGISTER, CLOSE = 1, 2, 3, 6, 7, 15


def pack(o):
    if isinstance(o, int):
        return bytes([o]) if 0 <= o < 128 else b"\xcf" + struct.pack(">Q", o)
    if isinstance(o, str):
        b = o.encode()
        return bytes([0xa0 | len(b)]) + b if len(b) < 32 else b"\xd9" + bytes([len(b)]) + b
    if isinstance(o, dict):
        out = bytes([0x80 | len(o)])
        for k in sorted(o):
            out += pack(k) + pack(o[k])
        return out
    raise TypeError(o)


def unpack(b, i=0):
    """One msgpack value of the kinds HELLO_ACK uses; (value, next index)."""
    t = b[i]
    if t < 0x80:
        return t, i + 1
    if 0x80 <= t <= 0x8f:
        d = {}
        i += 1
        for _ in range(t & 0x0f):
            k, i = unpack(b, i)
            v, i = unpack(b, i)
            d[k] = v
        return d, i
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if t in (0xc2, 0xc3):
        return t == 0xc3, i + 1
    if t == 0xc0:
        return None, i + 1
    sizes = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}
    if t in sizes:
        n = sizes[t]
        return int.from_bytes(b[i + 1:i + 1 + n], "big"), i + 1 + n
    if t == 0xd9:
        n = b[i + 1]
        return b[i + 2:i + 2 + n].decode(), i + 2 + n
    raise ValueError("msgpack type 0x%02x" % t)


def frame(mtype, fields):
    body = {0: 1, 1: mtype}
    body.update(fields)
    payload = pack(body)
    return bytes([mtype]) + struct.pack(">I", len(payload)) + payload


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def next_frame(self, deadline):
        """(type, decoded payload) or None at the deadline."""
        while True:
            if len(self.buf) >= 5:
                mtype, n = self.buf[0], struct.unpack(">I", self.buf[1:5])[0]
                if len(self.buf) >= 5 + n:
                    payload = self.buf[5:5 + n]
                    self.buf = self.buf[5 + n:]
                    return mtype, unpack(payload)[0]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(min(left, 1.0))
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                self.send(frame(HEARTBEAT, {2: int(time.time() * 1000)}))
                continue
            if not data:
                return None
            self.buf += data

    def wait_ack(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            f = self.next_frame(deadline)
            if f is None:
                return None
            if f[0] == HELLO_ACK:
                return f[1]
            if f[0] == CLOSE:
                print("closed by the host: %r" % (f[1],), flush=True)
                return None


def main():
    path, go = sys.argv[1], sys.argv[2]
    c = Conn(path)
    c.send(frame(HELLO, {2: "reload-test", 3: 0x7f, 5: "calm"}))
    ack = c.wait_ack(10)
    if ack is None:
        sys.exit("no HELLO_ACK")
    print("ack1 msgs=%d bytes=%d" % (ack.get(5, 0), ack.get(6, 0)), flush=True)
    c.send(b"".join(frame(SERVICE_REGISTER, {2: "svc-%d" % i, 3: 8000 + i}) for i in range(2)))
    print("registered 2", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("no go file")
        c.send(frame(HEARTBEAT, {2: int(time.time() * 1000)}))
        time.sleep(0.5)
    ack = c.wait_ack(15)
    if ack is None:
        sys.exit("no second HELLO_ACK after the reload")
    print("ack2 msgs=%d bytes=%d" % (ack.get(5, 0), ack.get(6, 0)), flush=True)
    time.sleep(2.5)                     # the message bucket is full (10 at 5/s)
    c.send(b"".join(frame(SERVICE_REGISTER, {2: "svc-%d" % i, 3: 8000 + i})
                    for i in range(2, 10)))
    time.sleep(2.5)                     # full again: the burst alone goes over
    c.send(b"".join(frame(LOG, {2: "out", 3: i + 1, 5: "line %d" % i}) for i in range(40)))
    print("sent", flush=True)
    time.sleep(1.0)


if __name__ == "__main__":
    main()
