#!/usr/bin/env python3
"""http_flood.py: hostile and well-behaved clients of the node's HTTPS API
(docs/api.md, "Limits") for integration/test_http_limits.sh. Only the
standard library. Subcommands, each printing one JSON object:

  streams HOST PORT CA TOKEN N [PATH MARKER]
      N times: open GET /v1/events (or PATH, e.g. a logs follow), read its
      head and first bytes (up to MARKER, default "subscribed"), close the
      connection and at once open the next one. The token may hold one
      stream (http.max_streams_per_token 1): every one must get 200.

  flood HOST PORT CA TOKEN PER_ADDR EARLY_S GOOD_ADDR ATTACK_ADDR...
      From each ATTACK_ADDR, PER_ADDR TCP connections that never send a
      request (every third starts a TLS handshake and stalls half-way
      through its ClientHello). Then, while they are held, a well-behaved
      client from GOOD_ADDR makes HTTPS requests. Reports per address how
      many connections the node closed within EARLY_S of their connect
      (over its per-client cap), how many it held longer, when it cut the held ones (idle timeout), and the
      good client's answers and latencies.
"""
import http.client
import json
import os
import resource
import selectors
import socket
import ssl
import sys
import time

# A TLS record header for a 512-byte handshake message, and the first bytes
# of a ClientHello (type 1, length 508, version 3.3): the rest never comes.
PARTIAL_HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])


def tls_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


def sse_once(host, port, ctx, token, path, marker):
    """One stream: its status, then the connection closed at once."""
    raw = socket.create_connection((host, port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname=host)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n"
               "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n"
               % (path, host, token)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    if status == 200:
        # the stream's first record (": subscribed"): it is open for sure
        while marker.encode() not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    s.close()
    return status


def cmd_streams(host, port, ca, token, n, path="/v1/events?prefix=test.none.",
                marker="subscribed"):
    ctx = tls_context(ca)
    codes = []
    t0 = time.monotonic()
    for _ in range(n):
        codes.append(sse_once(host, port, ctx, token, path, marker))
    print(json.dumps({"codes": codes, "ms": int((time.monotonic() - t0) * 1000)}))


def good_requests(host, port, ctx, token, addr, n):
    """n sequential HTTPS requests, each on a new connection from addr."""
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        code = 0
        try:
            c = http.client.HTTPSConnection(host, port, timeout=5, context=ctx,
                                            source_address=(addr, 0))
            c.request("GET", "/v1/status", headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            r.read()
            code = r.status
            c.close()
        except OSError as e:
            code = str(e)
        out.append({"code": code, "ms": round((time.monotonic() - t0) * 1000, 1)})
    return out


def cmd_flood(host, port, ca, token, per_addr, early, good, attackers):
    """early: a connection closed within this many seconds of its connect
    was refused (closed at accept); later, it was held, then cut."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = per_addr * len(attackers) + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, min(hard, need)), max(hard, need)))
    ctx = tls_context(ca)
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> dict
    refused_at_connect = 0
    slow = []
    t_start = time.monotonic()

    def drain(timeout):
        for key, _ in sel.select(timeout=timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed by the node (FIN or RST)
                conns[s]["closed"] = time.monotonic()
                sel.unregister(s)

    # Connect in batches, each waited for: the node's accept queue (its
    # listen backlog) is not what is tested.
    for addr in attackers:
        for base in range(0, per_addr, 50):
            batch = []
            tb = time.monotonic()
            for i in range(base, min(per_addr, base + 50)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.bind((addr, 0))
                s.setblocking(False)
                s.connect_ex((host, port))
                batch.append((s, i))
            w = selectors.DefaultSelector()
            for s, i in batch:
                w.register(s, selectors.EVENT_WRITE, i)
            pending = len(batch)
            deadline = time.monotonic() + 5
            while pending and time.monotonic() < deadline:
                for key, _ in w.select(timeout=0.5):
                    s, i = key.fileobj, key.data
                    w.unregister(s)
                    pending -= 1
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        refused_at_connect += 1
                        s.close()
                        continue
                    tls = i % 3 == 2
                    if tls:
                        try:
                            s.send(PARTIAL_HELLO)
                        except OSError:
                            pass
                    conns[s] = {"addr": addr, "tls": tls, "t": time.monotonic(), "closed": None}
                    sel.register(s, selectors.EVENT_READ)
            w.close()
            drain(0)
            slow.append(round(time.monotonic() - tb, 3))
            if pending:
                print(json.dumps({"error": "%d connects from %s did not complete in 5 s" % (pending, addr)}))
                sys.exit(1)
    t_connected = time.monotonic()

    # Those over the per-address cap are closed at accept: give it a moment.
    end = time.monotonic() + 0.8
    while time.monotonic() < end:
        drain(0.1)
    per = {}
    for s, c in conns.items():
        p = per.setdefault(c["addr"], {"refused": 0, "held": 0, "held_tls": 0})
        if c["closed"] is not None and c["closed"] - c["t"] < early:
            p["refused"] += 1
        else:
            p["held"] += 1
            p["held_tls"] += 1 if c["tls"] else 0
    # The good client, while the others are held.
    served = good_requests(host, port, ctx, token, good, 5)
    # Then the held ones until the node cuts them (idle timeout).
    end = time.monotonic() + 8
    while time.monotonic() < end and any(c["closed"] is None for c in conns.values()):
        drain(0.2)
    held_for = sorted(round(c["closed"] - c["t"], 2) for c in conns.values()
                      if c["closed"] is not None and c["closed"] - c["t"] >= early)
    still_open = sum(1 for c in conns.values() if c["closed"] is None)
    for s in conns:
        s.close()
    print(json.dumps({
        "connects": len(conns) + refused_at_connect,
        "refused_at_connect": refused_at_connect,
        "connect_s": round(t_connected - t_start, 2),
        "per_addr": per,
        "good": served,
        "held_for_min": held_for[0] if held_for else None,
        "held_for_max": held_for[-1] if held_for else None,
        "held_cut": len(held_for),
        "still_open": still_open,
        "batch_s": sorted(slow)[-5:],
    }))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "streams":
        cmd_streams(a[0], int(a[1]), a[2], a[3], int(a[4]), *a[5:7])
    elif cmd == "flood":
        cmd_flood(a[0], int(a[1]), a[2], a[3], int(a[4]), float(a[5]), a[6], a[7:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
