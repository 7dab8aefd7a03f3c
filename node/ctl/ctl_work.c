/* ctl_work.c - a command's work on a thread while its main thread prints
 * progress (ctl.h, ctl_work_t). */
#include "node/ctl/ctl.h"

static void *
s_run (void *arg)
{
    ctl_work_t *w = (ctl_work_t *) arg;
    w->rc = w->fn (w->arg);
    atomic_store (&w->done, true);
    return NULL;
}

int
ctl_work_start (ctl_work_t *w, ctl_work_fn *fn, void *arg)
{
    w->fn = fn;
    w->arg = arg;
    w->rc = -1;
    atomic_init (&w->done, false);
    return pthread_create (&w->thread, NULL, s_run, w) == 0 ? 0 : -1;
}

bool
ctl_work_done (ctl_work_t *w)
{
    return atomic_load (&w->done);
}

int
ctl_work_join (ctl_work_t *w)
{
    pthread_join (w->thread, NULL);
    return w->rc;
}
