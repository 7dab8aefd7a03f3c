#!/usr/bin/python3
"""integration/shed_cli_play.py: plays Shed's CLI against a node's Shed API.

Written from Shed's own documents and CLI code (github.com/charliek/shed:
docs/spec.md, docs/reference/api.md, cmd/shed/server.go, server_add.go,
client.go, shed.go), read, not copied: the requests Shed's `shed` command
sends, in its order, with its headers, and what it accepts in return. Our
node's own types are not used. Used by integration/test_shed_compat.sh.

  shed_cli_play.py HOST HTTPS_PORT TOKEN NAME

Plays, printing one line per step (the test checks them):
  add-ssh-first  today's `shed server add HOST --https-port P`: it scans
                 the host key on the SSH port (2222 unless --ssh-port) and
                 bootstraps a credential over SSH; with no SSH server both
                 are "unreachable", so it falls back to HTTP: it reads the
                 TLS certificate and pins its SHA-256 fingerprint, then
                 GET /api/info over the pinned TLS, without a token; it
                 refuses a server whose info reports auth_mode token or
                 mtls (their credential comes over SSH only); the name is
                 the info's; ssh_port 0 draws no port-mismatch warning.
                 The entry has no credential of its own: ours is the
                 static bearer token an operator puts in it.
  add-http-first Shed's first CLI (docs/spec.md): GET /api/info, then
                 GET /api/ssh-host-key (a failure fails the add) and the
                 line "[host]:<ssh_port> <host_key>" appended to
                 ~/.shed/known_hosts, which must stay parseable.
  create         GET /api/info (the CLI needs its backend), then POST
                 /api/sheds with Accept: text/event-stream, the backend
                 sent back; 200 with the event stream: "progress" events
                 ({"message"}) printed, "complete" (the shed) or "error"
                 ({"error": {"code", "message"}}) ends it.
  create-taken   the same create again: the stream's error event.
  list           GET /api/sheds.
  stop, start    POST /api/sheds/NAME/stop, /start: 200 only.
  delete         DELETE /api/sheds/NAME with Accept: text/event-stream:
                 204 (a server without a delete stream) or 200.
"""
import base64
import hashlib
import http.client
import json
import socket
import ssl
import struct
import sys
import tempfile


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


class Pinned:
    """Shed's pinned transport: no CA chain, the leaf certificate's
    SHA-256 must equal the pin taken at `server add`."""

    def __init__(self, host, port, pin=None):
        self.host, self.port, self.pin = host, port, pin

    def _ctx(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def fingerprint(self):
        with socket.create_connection((self.host, self.port), timeout=10) as raw:
            with self._ctx().wrap_socket(raw, server_hostname=self.host) as tls:
                der = tls.getpeercert(binary_form=True)
        return "sha256:" + hashlib.sha256(der).hexdigest()

    def request(self, method, path, token=None, body=None, accept=None):
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=60, context=self._ctx())
        conn.connect()
        der = conn.sock.getpeercert(binary_form=True)
        if "sha256:" + hashlib.sha256(der).hexdigest() != self.pin:
            fail("TLS certificate does not match the pin")
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        if accept:
            headers["Accept"] = accept
        conn.request(method, path, body=data, headers=headers)
        return conn, conn.getresponse()


def api_error(data):
    try:
        e = json.loads(data)["error"]
        return "%s: %s" % (e["code"], e["message"])
    except (ValueError, KeyError, TypeError):
        return "server error: %r" % data


def do_json(client, method, path, token, ok=(200,), body=None):
    conn, resp = client.request(method, path, token, body)
    data = resp.read()
    conn.close()
    if resp.status not in ok:
        fail("%s %s: %d %s" % (method, path, resp.status, api_error(data)))
    return json.loads(data) if data else None


def read_sse(resp, on_progress):
    """Shed's readSSEStream: event/data lines, ':' comments, a blank line
    dispatches; progress -> callback, complete -> its data, error -> an
    error; a stream that ends without either is an error."""
    event, data = "", []

    def dispatch():
        payload = "\n".join(data)
        if event == "progress":
            on_progress(json.loads(payload))
        elif event == "complete":
            return ("complete", payload)
        elif event == "error":
            return ("error", api_error(payload))
        return None

    while True:
        raw = resp.readline()
        if not raw:
            break
        line = raw.decode().rstrip("\r\n")
        if line == "":
            if data:
                done = dispatch()
                data = []
                if done:
                    return done
            event = ""
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        done = dispatch()
        if done:
            return done
    return ("error", "event stream ended without a complete or error event")


def create(client, token, name):
    info = do_json(client, "GET", "/api/info", token)
    if not info.get("backend"):
        fail("server does not advertise a backend")
    req = {"name": name, "backend": info["backend"], "no_provision": False}
    conn, resp = client.request("POST", "/api/sheds", token, req, accept="text/event-stream")
    if resp.status != 200:
        data = resp.read()
        conn.close()
        return ("error", api_error(data))
    if "text/event-stream" not in resp.getheader("Content-Type", ""):
        fail("create stream: Content-Type %s" % resp.getheader("Content-Type"))
    seen = []

    def progress(ev):
        if not isinstance(ev.get("message"), str):
            fail("progress event without a message: %r" % ev)
        seen.append(ev["message"])
        print("progress %s" % ev["message"])

    out = read_sse(resp, progress)
    conn.close()
    return out + (len(seen),)


def known_hosts_line_ok(line):
    """What Go's knownhosts parser needs of a line: host pattern, key type,
    base64 key whose blob names the same type."""
    parts = line.split()
    if len(parts) < 3:
        return False
    blob = base64.b64decode(parts[2])
    (n,) = struct.unpack(">I", blob[:4])
    return blob[4:4 + n].decode() == parts[1]


def main():
    host, port, token, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

    # ---- shed server add HOST --https-port PORT (today's, SSH-first) -------------
    for what in ("host key scan", "ssh bootstrap"):
        try:
            socket.create_connection((host, 2222), timeout=5).close()
            fail("%s: something listens on the SSH port 2222" % what)
        except ConnectionRefusedError:
            pass  # unreachable, no key scanned: the HTTP fallback
    pin = Pinned(host, port).fingerprint()
    client = Pinned(host, port, pin)
    info = do_json(client, "GET", "/api/info", None)
    if info.get("auth_mode") in ("token", "mtls"):
        fail("info reports auth_mode %s: the CLI refuses to add it over HTTP" % info["auth_mode"])
    if not info.get("name") or info.get("ssh_port") != 0:
        fail("info %r" % info)
    print("add-ssh-first %s %s ssh_port=%d" % (info["name"], pin[:15], info["ssh_port"]))

    # ---- shed server add (the first, HTTP-first CLI) -----------------------------
    info = do_json(client, "GET", "/api/info", None)
    key = do_json(client, "GET", "/api/ssh-host-key", None)["host_key"]
    line = "[%s]:%d %s" % (host, info["ssh_port"], key) if info["ssh_port"] != 22 else host + " " + key
    with tempfile.NamedTemporaryFile("w+") as kh:
        kh.write(line + "\n")
        kh.flush()
        kh.seek(0)
        if not all(known_hosts_line_ok(l) for l in kh.read().splitlines()):
            fail("known_hosts line does not parse: %r" % line)
    print("add-http-first %s %s" % (info["name"], line.split()[1]))

    # ---- shed create NAME ---------------------------------------------------------
    kind, payload, n = create(client, token, name)
    if kind != "complete":
        fail("create: " + payload)
    shed = json.loads(payload)
    print("complete %s %s progress=%d" % (shed["name"], shed["status"], n))
    kind, payload, n = create(client, token, name)
    print("create-taken %s" % (payload if kind == "error" else "complete?!"))

    # ---- shed list / stop / start ---------------------------------------------------
    sheds = do_json(client, "GET", "/api/sheds", token)["sheds"]
    print("list %s" % " ".join(sorted("%s:%s" % (s["name"], s["status"]) for s in sheds)))
    print("stop %s" % do_json(client, "POST", "/api/sheds/%s/stop" % name, token)["status"])
    print("start %s" % do_json(client, "POST", "/api/sheds/%s/start" % name, token)["status"])

    # ---- shed delete NAME -----------------------------------------------------------
    conn, resp = client.request("DELETE", "/api/sheds/" + name, token, accept="text/event-stream")
    status = resp.status
    data = resp.read() if status != 200 or "text/event-stream" not in resp.getheader(
        "Content-Type", "") else None
    if status == 200 and data is None:
        kind, payload = read_sse(resp, lambda ev: None)
        if kind != "complete":
            fail("delete: " + payload)
    elif status not in (200, 204):
        fail("delete: %d %s" % (status, api_error(data)))
    conn.close()
    print("delete %d" % status)


if __name__ == "__main__":
    main()
