/* The pod sandbox's only process: holds the pod's namespaces until it is told to stop.
 * Kubernetes' own pause does the same; this one is built here because no registry is
 * reachable. It reaps orphans, as PID 1 of a shared PID namespace must. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signum) { (void)signum; _exit(0); }
static void reap(int signum) { (void)signum; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction on_stop = {.sa_handler = stop}, on_child = {.sa_handler = reap,
                                                                   .sa_flags = SA_NOCLDSTOP};
    sigaction(SIGINT, &on_stop, 0);
    sigaction(SIGTERM, &on_stop, 0);
    sigaction(SIGCHLD, &on_child, 0);
    for (;;) pause();
}
