/* Warm-read timing loop: open + read to EOF + close of one file, N times; prints one
 * latency in nanoseconds per line. A C client keeps interpreter overhead out of the ratio. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: readloop PATH ITERATIONS\n");
        return 2;
    }
    long iterations = atol(argv[2]);
    long long *samples = malloc(sizeof(long long) * iterations);
    char buf[4096];
    for (long i = 0; i < iterations; i++) {
        long long start = now_ns();
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) { perror("open"); return 1; }
        while (read(fd, buf, sizeof buf) > 0) {}
        close(fd);
        samples[i] = now_ns() - start;
    }
    for (long i = 0; i < iterations; i++) printf("%lld\n", samples[i]);
    return 0;
}
