/*
 * drv_exec.c - run a helper program, capture its output (see drv_exec.h).
 */
#include "node/drivers/drv_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
drv_exec (const char *bin, int ns_fd, char *const argv[], char *out, size_t size)
{
    int pipefd[2];
    if (pipe2 (pipefd, O_CLOEXEC) != 0)
        return -1;
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork ();
    if (pid < 0) {
        close (pipefd[0]);
        close (pipefd[1]);
        if (null_fd >= 0)
            close (null_fd);
        return -1;
    }
    if (pid == 0) {
        if (null_fd >= 0)
            dup2 (null_fd, 0);
        dup2 (pipefd[1], 1);
        dup2 (pipefd[1], 2);
        if (ns_fd >= 0 && setns (ns_fd, CLONE_NEWNET) != 0)
            _exit (126);
        execv (bin, argv);
        _exit (127);
    }
    if (null_fd >= 0)
        close (null_fd);
    close (pipefd[1]);
    size_t len = 0;
    for (;;) {
        char tmp[512];
        ssize_t n = read (pipefd[0], tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out && len + 1 < size) {
            size_t take = (size_t) n < size - 1 - len ? (size_t) n : size - 1 - len;
            memcpy (out + len, tmp, take);
            len += take;
        }
    }
    if (out && size)
        out[len] = '\0';
    close (pipefd[0]);
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}
