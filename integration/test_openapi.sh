#!/usr/bin/env bash
# integration/test_openapi.sh: docs/openapi.json documents exactly the
# routes the HTTP server serves, both ways: every METHOD PATH that
# `shed-node --print-routes` lists (read from the route tables in
# node/http/http_route.c and node/http/http_shed_compat.c) is an operation
# of the document, and every operation of the document is a route. Each
# operation also has an operationId equal to the route's name, responses
# with a JSON schema for its success, and an error response. No root, no
# processes but the binary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SHED_BUILD_DIR:-$ROOT/build}
NODE="$BUILD/node/shed-node"
[[ -x "$NODE" ]] || { echo "FAIL: $NODE not built" >&2; exit 1; }
routes=$("$NODE" --print-routes)
n=$(wc -l <<<"$routes")
((n >= 10)) || { echo "FAIL: only $n routes from --print-routes" >&2; exit 1; }
/usr/bin/python3 - "$ROOT/docs/openapi.json" <<PY
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc.get("openapi", "").startswith("3."), "not an OpenAPI 3 document"
code = {}
for line in """$routes""".splitlines():
    method, path, name = line.split()
    code[(method.lower(), path)] = name
docs = {}
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method in ("get", "post", "put", "delete", "patch", "head", "options"):
            docs[(method, path)] = op
bad = 0
for k in sorted(set(code) - set(docs)):
    print("FAIL: the server routes %s %s (%s): docs/openapi.json has no such operation" % (k[0].upper(), k[1], code[k]), file=sys.stderr); bad += 1
for k in sorted(set(docs) - set(code)):
    print("FAIL: docs/openapi.json documents %s %s, which the server does not route" % (k[0].upper(), k[1]), file=sys.stderr); bad += 1
schemas = doc["components"]["schemas"]
def resolve(s):
    return schemas[s["\$ref"].split("/")[-1]] if "\$ref" in s else s
for k in sorted(set(code) & set(docs)):
    op = docs[k]
    where = "%s %s" % (k[0].upper(), k[1])
    if op.get("operationId") != code[k]:
        print("FAIL: %s: operationId %r, the route is named %r" % (where, op.get("operationId"), code[k]), file=sys.stderr); bad += 1
    resp = op.get("responses", {})
    oks = [c for c in resp if c.startswith("2")]
    errs = [c for c in resp if c[0] in "45"]
    if not oks or not errs:
        print("FAIL: %s: needs a success and an error response" % where, file=sys.stderr); bad += 1
        continue
    for c in oks + errs:
        if c == "204":
            continue
        try:
            content = resp[c]["content"]
            # JSON, or a route's own media type (msgpack, event stream)
            mt = "application/json" if "application/json" in content else next(iter(content))
            resolve(content[mt]["schema"])
        except KeyError as e:
            print("FAIL: %s %s: no JSON schema (%s)" % (where, c, e), file=sys.stderr); bad += 1
    if "{name}" in k[1] and not any(p.get("in") == "path" and p.get("name") == "name" for p in op.get("parameters", [])):
        print("FAIL: %s: the {name} path parameter is not described" % where, file=sys.stderr); bad += 1
if bad:
    sys.exit(1)
print("PASS: docs/openapi.json and the server agree on %d routes" % len(code))
PY
