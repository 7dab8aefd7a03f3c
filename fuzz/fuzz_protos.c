/*
 * fuzz_protos.c - every wire protocol table without a fuzzer of its own
 * behind one target: the local API (what local clients send the node), the
 * node-to-node RPC envelope and scheduler messages, and replicated record
 * values (what other nodes put in the state). The first input byte picks the
 * protocol, the rest is the message.
 *
 * Oracle: decode never crashes or leaks; a message that decodes re-encodes,
 * and that encoding decodes again to the same bytes (encode is a function of
 * the decoded message, so a second round trip must be byte-identical).
 */
#include "cluster/records.h"
#include "cluster/rpc.h"
#include "node/api/api_msg.h"
#include "node/sched/node_sched.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const wire_proto_t *const s_protos[] = { &api_proto, &rpc_proto, &nsched_proto, &rec_proto };

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const wire_proto_t *proto = s_protos[data[0] % (sizeof s_protos / sizeof s_protos[0])];
    data++;
    size--;
    /* The largest message struct of these protocols, zeroed by decode. */
    void *msg = malloc (proto->msg_size);
    void *again = malloc (proto->msg_size);
    assert (msg && again);
    const char *field = NULL;
    if (wire_decode (proto, data, size, msg, &field) == WIRE_OK) {
        uint8_t *enc = NULL, *enc2 = NULL;
        size_t len = 0, len2 = 0;
        assert (wire_encode (proto, msg, &enc, &len) == WIRE_OK);
        assert (wire_decode (proto, enc, len, again, NULL) == WIRE_OK);
        assert (wire_encode (proto, again, &enc2, &len2) == WIRE_OK);
        assert (len == len2 && memcmp (enc, enc2, len) == 0);
        free (enc);
        free (enc2);
        wire_msg_free (proto, again);
        wire_msg_free (proto, msg);
    }
    free (msg);
    free (again);
    return 0;
}
