/*
 * node_snaps_commit.c - taking a captured layer into the store off the
 * daemon's loop. snap_store_commit reads the whole layer to hash it (about
 * 0.3 s per 100 MB from the page cache), so it runs on a small actor of its
 * own, one commit at a time (the quota check and the renames stay
 * serialised); the loop hears the result on the actor's pipe. The store
 * keeps no state but its paths and quota, so the loop's reads, lists and
 * removals of other snapshots go on meanwhile.
 */
#include "node/snapshots/node_snaps_int.h"

#include "common/log.h"

#include <stdlib.h>
#include <string.h>

struct _snaps_commit_t {
    rec_snapshot_t rec; /* tags point into `tags` */
    wire_tag_t tags[REC_TAGS_MAX];
    int rc;
    char err[256];
    snaps_commit_fn *done;
    void *arg;
};

static void
s_committer (zsock_t *pipe, void *args)
{
    snap_store_t *store = (snap_store_t *) args;
    zsock_signal (pipe, 0);
    for (;;) {
        char *cmd = NULL;
        void *ptr = NULL;
        if (zsock_recv (pipe, "sp", &cmd, &ptr) != 0)
            break;
        bool term = !cmd || streq (cmd, "$TERM");
        free (cmd);
        if (term)
            break;
        snaps_commit_t *job = (snaps_commit_t *) ptr;
        job->rc = snap_store_commit (store, &job->rec, job->err, sizeof job->err);
        zsock_send (pipe, "p", job);
    }
}

static int
s_on_done (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    shed_snaps_t *self = (shed_snaps_t *) arg;
    void *ptr = NULL;
    if (zsock_recv (reader, "p", &ptr) != 0 || !ptr)
        return 0;
    snaps_commit_t *job = (snaps_commit_t *) ptr;
    job->done (self, &job->rec, job->rc, job->err, job->arg);
    free (job);
    return 0;
}

int
snaps__commit_start (shed_snaps_t *self)
{
    self->committer = zactor_new (s_committer, self->store);
    if (!self->committer)
        return -1;
    return zloop_reader (self->loop, zactor_sock (self->committer), s_on_done, self);
}

void
snaps__commit_stop (shed_snaps_t *self)
{
    if (!self->committer)
        return;
    zloop_reader_end (self->loop, zactor_sock (self->committer));
    /* Waits for a commit in progress; queued ones are dropped with the
     * daemon (their staged files are swept from tmp/ at the next start). */
    zactor_destroy (&self->committer);
}

int
snaps__commit_async (shed_snaps_t *self, const rec_snapshot_t *rec, snaps_commit_fn *done,
                     void *arg)
{
    snaps_commit_t *job = (snaps_commit_t *) calloc (1, sizeof *job);
    if (!job || !self->committer)
        goto fail;
    job->rec = *rec;
    job->rec.tags.n = rec->tags.n < REC_TAGS_MAX ? rec->tags.n : REC_TAGS_MAX;
    if (job->rec.tags.n)
        memcpy (job->tags, rec->tags.items, job->rec.tags.n * sizeof (wire_tag_t));
    job->rec.tags.items = job->tags;
    job->done = done;
    job->arg = arg;
    if (zsock_send (zactor_sock (self->committer), "sp", "COMMIT", job) != 0)
        goto fail;
    return 0;
fail:
    free (job);
    return -1;
}
