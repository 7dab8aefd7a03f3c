/*
 * membership_keys.c - cluster-wide keyring operations (KEYS INSTALL / USE /
 * REMOVE / LIST): applying one locally, the epoch that keeps stale ones out,
 * serving a peer's operation and collecting every member's answer.
 * Separate because it is the one part that changes the keyring
 * (docs/membership.md section 6).
 */
#include "cluster/membership_int.h"
#include "common/fileutil.h"
#include "crypto/identity.h"

#include <errno.h>
#include <sodium.h>

static int
s_keyring_apply (mb_self_t *self, uint32_t op, const uint8_t key[SHED_KEY_BYTES], char *why,
                 size_t whylen)
{
    int rc = 0;
    switch (op) {
    case GOSSIP_KEY_INSTALL:
        rc = shed_keyring_install (self->keyring, key);
        break;
    case GOSSIP_KEY_USE:
        rc = shed_keyring_use (self->keyring, key);
        break;
    case GOSSIP_KEY_REMOVE:
        rc = shed_keyring_remove (self->keyring, key);
        break;
    default:
        return 0;
    }
    if (rc) {
        snprintf (why, whylen, "%s",
                  rc == SHED_KR_ERR_FULL      ? "keyring full"
                  : rc == SHED_KR_ERR_ABSENT  ? "key not installed"
                  : rc == SHED_KR_ERR_PRIMARY ? "cannot remove the primary key"
                                              : "keyring error");
        return -1;
    }
    if (self->cfg.keyring_path[0] && shed_keyring_save (self->keyring, self->cfg.keyring_path)) {
        snprintf (why, whylen, "saving keyring: %s", strerror (errno));
        return -1;
    }
    return 0;
}

/* The last key operation's epoch lives beside the keyring, in
 * "<keyring_path>.epoch" (decimal, 0600), so a restarted node still ignores
 * operations older than the last it applied (docs/membership.md section 6). */
static void
s_epoch_path (mb_self_t *self, char *path, size_t pathlen)
{
    snprintf (path, pathlen, "%s.epoch", self->cfg.keyring_path);
}

void
mb_epoch_load (mb_self_t *self)
{
    if (!self->cfg.keyring_path[0])
        return;
    char path[600];
    s_epoch_path (self, path, sizeof path);
    size_t len = 0;
    char *text = shed_read_file (path, 64, &len);
    if (!text)
        return; /* none yet: any epoch is newer */
    char buf[65];
    memcpy (buf, text, len < 64 ? len : 64);
    buf[len < 64 ? len : 64] = '\0';
    free (text);
    self->key_epoch = strtoull (buf, NULL, 10);
}

static int
s_epoch_save (mb_self_t *self, uint64_t epoch)
{
    self->key_epoch = epoch;
    if (!self->cfg.keyring_path[0])
        return 0;
    char path[600], text[32];
    s_epoch_path (self, path, sizeof path);
    int n = snprintf (text, sizeof text, "%llu\n", (unsigned long long) epoch);
    return shed_write_file_atomic (path, text, (size_t) n, 0600);
}

/* "<keyid>,<keyid>*" for our keyring. */
static void
s_keyids (mb_self_t *self, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < shed_keyring_count (self->keyring); i++) {
        shed_keyring_entry_t e;
        if (shed_keyring_entry (self->keyring, i, &e))
            continue;
        int n = snprintf (out + used, outlen - used, "%s%08x%s", used ? "," : "", e.id,
                          e.primary ? "*" : "");
        sodium_memzero (&e, sizeof e);
        if (n < 0 || (size_t) n >= outlen - used)
            break;
        used += (size_t) n;
    }
}

void
mb_serve_keyop (mb_self_t *self, mb_conn_t *conn, const uint8_t *msg, size_t len)
{
    gossip_msg_t req;
    if (wire_decode (&gossip_proto, msg, len, &req, NULL))
        return;
    gossip_msg_t rep;
    memset (&rep, 0, sizeof rep);
    rep.hdr.type = GOSSIP_KEY_REPLY;
    gossip_key_reply_t *r = &rep.u.gossip_key_reply;
    r->id = req.u.gossip_key_op.id;
    snprintf (r->from, sizeof r->from, "%s", self->cfg.name);
    r->ok = true;
    uint64_t epoch = req.u.gossip_key_op.epoch;
    if (req.u.gossip_key_op.op != GOSSIP_KEY_LIST && epoch <= self->key_epoch) {
        /* Older than (or the same as) the last change we applied: a replay
         * or a straggler. Applying it could undo a rotation (USE K2 after
         * USE K3 splits the cluster), so it is ignored and counted. */
        self->st.keyop_stale++;
        log_warn (MB_COMP, "stale key operation ignored|epoch=%llu last=%llu peer=%s",
                  (unsigned long long) epoch, (unsigned long long) self->key_epoch, conn->peer);
        snprintf (r->error, sizeof r->error, "stale key operation (epoch %llu, last applied %llu)",
                  (unsigned long long) epoch, (unsigned long long) self->key_epoch);
        r->ok = false;
    }
    else if (req.u.gossip_key_op.op != GOSSIP_KEY_LIST) {
        uint8_t key[SHED_KEY_BYTES];
        memcpy (key, req.u.gossip_key_op.key.data, SHED_KEY_BYTES);
        if (s_keyring_apply (self, (uint32_t) req.u.gossip_key_op.op, key, r->error,
                             sizeof r->error))
            r->ok = false;
        else if (s_epoch_save (self, epoch)) {
            snprintf (r->error, sizeof r->error, "saving key epoch: %s", strerror (errno));
            r->ok = false;
        }
        sodium_memzero (key, sizeof key);
    }
    if (req.u.gossip_key_op.key.data)
        sodium_memzero (req.u.gossip_key_op.key.data, req.u.gossip_key_op.key.len);
    wire_msg_free (&gossip_proto, &req);
    gossip_keyinfo_t infos[SWIM_KEYS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < shed_keyring_count (self->keyring) && n < SWIM_KEYS_MAX; i++) {
        shed_keyring_entry_t e;
        if (shed_keyring_entry (self->keyring, i, &e))
            continue;
        memset (&infos[n], 0, sizeof infos[n]);
        infos[n].id = e.id;
        infos[n].primary = e.primary;
        n++;
        sodium_memzero (&e, sizeof e);
    }
    r->keys.n = n;
    r->keys.items = infos;
    uint8_t *out = NULL;
    size_t outlen = 0;
    if (wire_encode (&gossip_proto, &rep, &out, &outlen) == 0) {
        conn->out = mb_frame (self, out, outlen, &conn->outlen);
        free (out);
    }
}

void
mb_keyop_finish (mb_self_t *self)
{
    zmsg_t *reply = self->keyop.results;
    self->keyop.results = NULL;
    zmsg_pushstr (reply, self->keyop.failed ? "PARTIAL" : "OK");
    zmsg_send (&reply, self->pipe);
    sodium_memzero (self->keyop.key, sizeof self->keyop.key);
    self->keyop.active = false;
}

/* The outcome of one member's key operation: its answer (msg) or, with msg
 * NULL, its failure (conn->why). Counted exactly once per connection: the
 * connection's name is cleared here, so the close that follows an answer
 * (or a failed open) does not count it a second time. */
void
mb_keyop_result (mb_self_t *self, mb_conn_t *conn, const uint8_t *msg, size_t len)
{
    if (!conn->name[0])
        return;
    char name[SWIM_NAME_MAX + 1];
    memcpy (name, conn->name, sizeof name);
    conn->name[0] = '\0';
    if (!self->keyop.active || conn->keyop_id != self->keyop.id)
        return; /* a straggler of an earlier operation */
    gossip_msg_t rep;
    if (!msg) {
        zmsg_addstrf (self->keyop.results, "%s error %s", name,
                      conn->why ? conn->why : "no answer");
        self->keyop.failed = true;
    }
    else if (wire_decode (&gossip_proto, msg, len, &rep, NULL)) {
        zmsg_addstrf (self->keyop.results, "%s error invalid answer", name);
        self->keyop.failed = true;
    }
    else {
        gossip_key_reply_t *r = &rep.u.gossip_key_reply;
        if (rep.hdr.type != GOSSIP_KEY_REPLY || r->id != self->keyop.id) {
            zmsg_addstrf (self->keyop.results, "%s error invalid answer", name);
            self->keyop.failed = true;
        }
        else if (strcmp (r->from, name) != 0) {
            /* Whoever listens at that address now is not the member we
             * meant (restarted under another name?): don't report its
             * keyring as that member's. */
            zmsg_addstrf (self->keyop.results, "%s error answered by '%s' at %s:%u", name, r->from,
                          conn->peer, (unsigned) conn->port);
            self->keyop.failed = true;
        }
        else if (r->ok) {
            char ids[SWIM_KEYS_MAX * 10 + 1] = "";
            size_t used = 0;
            for (size_t i = 0; i < r->keys.n && used < sizeof ids; i++)
                used += (size_t) snprintf (ids + used, sizeof ids - used, "%s%08x%s", i ? "," : "",
                                           (unsigned) r->keys.items[i].id,
                                           r->keys.items[i].primary ? "*" : "");
            zmsg_addstrf (self->keyop.results, "%s ok %s", name, ids);
        }
        else {
            zmsg_addstrf (self->keyop.results, "%s error %s", name, r->error);
            self->keyop.failed = true;
        }
        wire_msg_free (&gossip_proto, &rep);
    }
    if (self->keyop.waiting > 0 && --self->keyop.waiting == 0)
        mb_keyop_finish (self);
}

void
mb_cmd_keys (mb_self_t *self, zmsg_t *request)
{
    char *verb = zmsg_popstr (request);
    char *text = zmsg_popstr (request);
    uint32_t op = GOSSIP_KEY_LIST;
    if (verb && streq (verb, "INSTALL"))
        op = GOSSIP_KEY_INSTALL;
    else if (verb && streq (verb, "USE"))
        op = GOSSIP_KEY_USE;
    else if (verb && streq (verb, "REMOVE"))
        op = GOSSIP_KEY_REMOVE;
    else if (!verb || !streq (verb, "LIST")) {
        zstr_send (self->pipe, "ERROR unknown KEYS verb");
        goto done;
    }
    if (self->keyop.active) {
        zstr_send (self->pipe, "ERROR another key operation is running");
        goto done;
    }
    memset (&self->keyop, 0, sizeof self->keyop);
    if (op != GOSSIP_KEY_LIST && (!text || shed_key_from_text (text, self->keyop.key))) {
        zstr_send (self->pipe, "ERROR key must be base64 of 32 bytes");
        goto done;
    }
    char why[128];
    /* Epochs only grow: the wall clock when it is ahead, else last + 1. */
    uint64_t epoch = (uint64_t) zclock_time ();
    if (epoch <= self->key_epoch)
        epoch = self->key_epoch + 1;
    if (s_keyring_apply (self, op, self->keyop.key, why, sizeof why)) {
        zstr_sendf (self->pipe, "ERROR %s", why);
        sodium_memzero (self->keyop.key, sizeof self->keyop.key);
        goto done;
    }
    if (op != GOSSIP_KEY_LIST && s_epoch_save (self, epoch)) {
        zstr_sendf (self->pipe, "ERROR saving key epoch: %s", strerror (errno));
        sodium_memzero (self->keyop.key, sizeof self->keyop.key);
        goto done;
    }
    self->keyop.active = true;
    self->keyop.op = op;
    self->keyop.id = ((uint64_t) randombytes_random () << 32) | randombytes_random ();
    self->keyop.results = zmsg_new ();
    self->keyop.deadline = mb_now (NULL) + MB_KEYOP_TIMEOUT;
    char ids[SWIM_KEYS_MAX * 10 + 1];
    s_keyids (self, ids, sizeof ids);
    zmsg_addstrf (self->keyop.results, "%s ok %s", self->cfg.name, ids);

    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_KEY_OP;
    msg.u.gossip_key_op.id = self->keyop.id;
    msg.u.gossip_key_op.op = op;
    msg.u.gossip_key_op.epoch = op != GOSSIP_KEY_LIST ? epoch : 0;
    if (op != GOSSIP_KEY_LIST) {
        msg.u.gossip_key_op.key.data = self->keyop.key;
        msg.u.gossip_key_op.key.len = SHED_KEY_BYTES;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&gossip_proto, &msg, &buf, &len) == 0) {
        for (size_t i = 1; i < swim_size (self->swim); i++) {
            const swim_member_t *m = swim_member_at (self->swim, i);
            if (m->state != SWIM_ALIVE && m->state != SWIM_SUSPECT)
                continue;
            mb_conn_t *conn = mb_conn_open (self, m->addr, m->port, MB_CONN_KEYOP, buf, len);
            if (conn) {
                snprintf (conn->name, sizeof conn->name, "%s", m->name);
                conn->keyop_id = self->keyop.id;
                self->keyop.waiting++;
            }
            else {
                zmsg_addstrf (self->keyop.results, "%s error cannot connect", m->name);
                self->keyop.failed = true;
            }
        }
        sodium_memzero (buf, len);
        free (buf);
    }
    if (self->keyop.waiting == 0)
        mb_keyop_finish (self);
done:
    zstr_free (&verb);
    if (text)
        sodium_memzero (text, strlen (text));
    zstr_free (&text);
}
