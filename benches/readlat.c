/* Reads FILE N times (open, read to the end, close) and prints the median
 * and 90th percentile of one read in microseconds; with INTERVAL_US, sleeps
 * that long between reads and runs for N seconds instead (a poller). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int read_once(const char *path) {
    char buf[65536];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n, total = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) total += n;
    close(fd);
    return n < 0 || total == 0 ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long n = atol(argv[2]);
    if (argc > 3) {
        long interval = atol(argv[3]);
        double end = now_us() + n * 1e6;
        long reads = 0, fails = 0;
        while (now_us() < end) {
            if (read_once(argv[1]) < 0) fails++;
            reads++;
            usleep(interval);
        }
        printf("reads %ld fails %ld\n", reads, fails);
        return fails != 0;
    }
    double *t = malloc(n * sizeof *t);
    for (long i = 0; i < n; i++) {
        double s = now_us();
        if (read_once(argv[1]) < 0) { perror(argv[1]); return 1; }
        t[i] = now_us() - s;
    }
    qsort(t, n, sizeof *t, cmp);
    printf("median_us %.1f p90_us %.1f\n", t[n / 2], t[n * 9 / 10]);
    return 0;
}
