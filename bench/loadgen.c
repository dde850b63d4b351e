/* loadgen: the benchmark's load client. One epoll loop, raw sockets, a chunked-encoding
 * parser, arrival times per record; cheap enough that the server is the bottleneck.
 * bench/run.py compiles it with gcc -O2 at run time (into bench/out/) and parses its one line
 * of JSON output.
 *
 *   loadgen many PORT PATH C SIZE N INTERVAL_MS DEADLINE_S
 *       C concurrent GETs of PATH on 127.0.0.1:PORT, each expected to carry N records of SIZE
 *       bytes (records are counted by body bytes, so the server's chunking does not matter).
 *       Reports completions, whether all C were open at once ("held": the last stream's first
 *       record came before the first stream's end), wall time, and for INTERVAL_MS > 0 the
 *       jitter of each record: arrival - (the stream's first arrival + k * INTERVAL_MS).
 *   loadgen many PORT PATH C SIZE N INTERVAL_MS DEADLINE_S BODY [FIRST_SIZE]
 *       The same with POSTs of the JSON BODY (bench/bench_chat.py: /chat). FIRST_SIZE: the
 *       first record's size when it differs from SIZE (a chat reply's first token has no
 *       leading space). Adds late_pcts_ms (with any INTERVAL_MS > 0): lateness against each
 *       stream's best-fitting grid, min over k of (arrival_k - k * INTERVAL).
 *   loadgen ttfb PORT PATH COUNT
 *       COUNT sequential requests on new connections: time from connect() to the first body
 *       byte (not the headers: the first record is what a user waits for).
 *   loadgen pair BYTES CHUNK SEND_CPU RECV_CPU
 *       A raw loopback TCP socket pair, BYTES written in CHUNK-byte writes: the physical limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { CONNECTING, HEADERS, SIZE_LINE, DATA, DATA_CRLF, TRAILER, IDENTITY, DONE, FAILED };

typedef struct {
    int fd, state, hdrlen, linelen, crlf_left;
    unsigned tail; /* the last four header bytes: the end is found past a full hdr[] too */
    unsigned long long chunk_left, size_acc, body;
    long recs;
    double first, done_t, first_byte;
    char hdr[8192]; /* the LiteLLM proxy's response head is ~3.5 KB (bench_gateway.py) */
} conn_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int g_port;
static char g_req[8192];
static int g_reqlen;
static long g_size, g_n, g_first_size;
static double g_interval;
static double *g_arrival; /* C * N arrival times, when jitter is wanted */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void add_body(conn_t *c, long idx, unsigned long long nbytes, double t) {
    if (c->first_byte == 0) c->first_byte = t;
    c->body += nbytes;
    unsigned long long first = (unsigned long long)g_first_size;
    long recs = c->body < first ? 0 : 1 + (long)((c->body - first) / (unsigned long long)g_size);
    if (recs > g_n) recs = g_n;
    for (long k = c->recs; k < recs; k++) {
        if (k == 0) c->first = t;
        if (g_arrival) g_arrival[idx * g_n + k] = t;
    }
    c->recs = recs;
}

/* Feed received bytes to the parser; returns the new state. */
static int feed(conn_t *c, long idx, const char *p, size_t len, double t) {
    size_t i = 0;
    while (i < len && c->state != DONE && c->state != FAILED) {
        char ch = p[i];
        switch (c->state) {
        case HEADERS:
            if (c->hdrlen < (int)sizeof(c->hdr) - 1) c->hdr[c->hdrlen++] = ch;
            c->tail = (c->tail << 8) | (unsigned char)ch;
            i++;
            if (c->tail == 0x0d0a0d0aU) {
                c->hdr[c->hdrlen] = 0;
                if (strncmp(c->hdr + 9, "200", 3) != 0) { c->state = FAILED; break; }
                c->state = strcasestr(c->hdr, "transfer-encoding: chunked") ? SIZE_LINE : IDENTITY;
            }
            break;
        case SIZE_LINE: {
            i++;
            int v = hexval(ch);
            if (ch == '\n') {
                if (c->size_acc == 0) { c->state = TRAILER; c->linelen = 0; }
                else { c->chunk_left = c->size_acc; c->size_acc = 0; c->linelen = 0; c->state = DATA; }
            } else if (v >= 0 && c->linelen == 0) {
                c->size_acc = c->size_acc * 16 + (unsigned)v;
            } else if (ch != '\r') {
                c->linelen = 1; /* a chunk extension: ignore up to the LF */
            }
            break;
        }
        case DATA: {
            size_t take = len - i;
            if (take > c->chunk_left) take = (size_t)c->chunk_left;
            add_body(c, idx, take, t);
            c->chunk_left -= take;
            i += take;
            if (c->chunk_left == 0) { c->state = DATA_CRLF; c->crlf_left = 2; }
            break;
        }
        case DATA_CRLF:
            i++;
            if (--c->crlf_left == 0) c->state = SIZE_LINE;
            break;
        case TRAILER:
            i++;
            if (ch == '\n') {
                if (c->linelen == 0) c->state = DONE;
                c->linelen = 0;
            } else if (ch != '\r') {
                c->linelen++;
            }
            break;
        case IDENTITY:
            add_body(c, idx, len - i, t);
            i = len;
            break;
        }
    }
    return c->state;
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static struct sockaddr_in server_addr(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, long n, double q) {
    if (n == 0) return 0;
    long i = (long)(q * (n - 1) + 0.5);
    return sorted[i];
}

static char rbuf[1 << 18];

static int run_many(int argc, char **argv) {
    if (argc < 9) return 2;
    g_port = atoi(argv[2]);
    const char *path = argv[3];
    long C = atol(argv[4]);
    g_size = atol(argv[5]);
    g_n = atol(argv[6]);
    g_interval = atof(argv[7]) / 1000.0;
    double deadline = atof(argv[8]);
    g_first_size = argc > 10 ? atol(argv[10]) : g_size;
    if (argc > 9)
        g_reqlen = snprintf(g_req, sizeof g_req,
                            "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            path, g_port, strlen(argv[9]), argv[9]);
    else
        g_reqlen = snprintf(g_req, sizeof g_req,
                            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                            path, g_port);
    if (g_reqlen >= (int)sizeof g_req) return 2;
    raise_nofile();
    conn_t *conns = calloc((size_t)C, sizeof(conn_t));
    if (g_interval > 0) g_arrival = calloc((size_t)(C * g_n), sizeof(double));
    int ep = epoll_create1(0);
    struct sockaddr_in addr = server_addr(g_port);
    long next = 0, connecting = 0, open_ = 0, completed = 0, failed = 0, refused = 0;
    const long max_connecting = 256;
    double start = now_s(), end_at = start + deadline;
    struct epoll_event evs[1024];
    while (completed + failed < C) {
        while (next < C && connecting < max_connecting) {
            conn_t *c = &conns[next];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) { c->state = FAILED; failed++; next++; continue; }
            c->state = CONNECTING;
            int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
            if (r < 0 && errno != EINPROGRESS) {
                close(c->fd); c->state = FAILED; failed++; refused++; next++; continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)next};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            connecting++; open_++; next++;
        }
        double t = now_s();
        if (t > end_at) break;
        int timeout_ms = (int)((end_at - t) * 1000) + 1;
        if (timeout_ms > 200) timeout_ms = 200;
        int ne = epoll_wait(ep, evs, 1024, timeout_ms);
        t = now_s();
        for (int e = 0; e < ne; e++) {
            long idx = (long)evs[e].data.u64;
            conn_t *c = &conns[idx];
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                connecting--;
                if (err || send(c->fd, g_req, (size_t)g_reqlen, MSG_NOSIGNAL) != g_reqlen) {
                    close(c->fd); c->state = FAILED; failed++; refused++; open_--; continue;
                }
                c->state = HEADERS;
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)idx};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            for (int rounds = 0; rounds < 16; rounds++) {
                ssize_t got = recv(c->fd, rbuf, sizeof rbuf, 0);
                if (got > 0) {
                    feed(c, idx, rbuf, (size_t)got, t);
                    if (c->state == DONE || c->state == FAILED) break;
                    if ((size_t)got < sizeof rbuf) break;
                    continue;
                }
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
                /* EOF or error */
                c->state = (c->state == IDENTITY) ? DONE : FAILED;
                break;
            }
            if (c->state == DONE || c->state == FAILED) {
                if (c->state == DONE) { completed++; c->done_t = t; }
                else failed++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                open_--;
            }
        }
    }
    double wall = now_s() - start;
    /* held: every stream complete and all open at once */
    double max_first = 0, min_done = 1e300, max_done = 0;
    long full = 0;
    unsigned long long total_body = 0;
    for (long i = 0; i < C; i++) {
        conn_t *c = &conns[i];
        total_body += c->body;
        if (c->state == DONE && c->recs == g_n) {
            full++;
            if (c->first > max_first) max_first = c->first;
            if (c->done_t < min_done) min_done = c->done_t;
            if (c->done_t > max_done) max_done = c->done_t;
        }
    }
    int held = full == C && (g_n == 0 || max_first < min_done);
    double busy = full ? max_done - start : wall;
    printf("{\"mode\":\"many\",\"c\":%ld,\"complete\":%ld,\"failed\":%ld,\"refused\":%ld,"
           "\"unfinished\":%ld,\"held\":%s,\"wall_s\":%.6f,\"busy_s\":%.6f,\"body_bytes\":%llu,"
           "\"ramp_s\":%.4f",
           C, full, failed, refused, C - completed - failed, held ? "true" : "false", wall, busy,
           total_body, full ? max_first - start : -1.0);
    if (g_arrival) {
        long m = 0;
        double *j = malloc(sizeof(double) * (size_t)(C * g_n));
        for (long i = 0; i < C; i++) {
            conn_t *c = &conns[i];
            if (c->recs == 0) continue;
            for (long k = 0; k < c->recs; k++)
                j[m++] = g_arrival[i * g_n + k] - (c->first + (double)k * g_interval);
        }
        qsort(j, (size_t)m, sizeof(double), cmp_double);
        printf(",\"jitter_n\":%ld,\"jitter_p50_ms\":%.3f,\"jitter_p99_ms\":%.3f,"
               "\"jitter_max_ms\":%.3f,\"jitter_pcts_ms\":[",
               m, pct(j, m, 0.5) * 1e3, pct(j, m, 0.99) * 1e3, m ? j[m - 1] * 1e3 : 0.0);
        for (int q = 0; q <= 100; q++) printf("%s%.3f", q ? "," : "", pct(j, m, q / 100.0) * 1e3);
        printf("]");
        /* Lateness: the same against each stream's best-fitting grid (the earliest of
         * arrival_k - k * INTERVAL), so a late first record does not make the rest look early. */
        m = 0;
        for (long i = 0; i < C; i++) {
            conn_t *c = &conns[i];
            if (c->recs == 0) continue;
            double base = 1e300;
            for (long k = 0; k < c->recs; k++) {
                double v = g_arrival[i * g_n + k] - (double)k * g_interval;
                if (v < base) base = v;
            }
            for (long k = 0; k < c->recs; k++)
                j[m++] = g_arrival[i * g_n + k] - (base + (double)k * g_interval);
        }
        qsort(j, (size_t)m, sizeof(double), cmp_double);
        printf(",\"late_pcts_ms\":[");
        for (int q = 0; q <= 100; q++) printf("%s%.3f", q ? "," : "", pct(j, m, q / 100.0) * 1e3);
        printf("]");
        free(j);
    }
    printf("}\n");
    return 0;
}

static int run_ttfb(int argc, char **argv) {
    if (argc < 5) return 2;
    g_port = atoi(argv[2]);
    const char *path = argv[3];
    long count = atol(argv[4]);
    g_size = g_first_size = 1 << 30;
    g_n = 1;
    g_reqlen = snprintf(g_req, sizeof g_req,
                        "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                        path, g_port);
    struct sockaddr_in addr = server_addr(g_port);
    double *lat = calloc((size_t)count, sizeof(double));
    long ok = 0;
    for (long i = 0; i < count; i++) {
        conn_t c;
        memset(&c, 0, sizeof c);
        double t0 = now_s();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            send(fd, g_req, (size_t)g_reqlen, MSG_NOSIGNAL) != g_reqlen) {
            close(fd);
            continue;
        }
        c.state = HEADERS;
        for (int guard = 0; guard < 100000; guard++) {
            ssize_t got = recv(fd, rbuf, sizeof rbuf, 0);
            if (got <= 0) { c.state = c.state == IDENTITY ? DONE : FAILED; break; }
            feed(&c, 0, rbuf, (size_t)got, now_s());
            if (c.state == DONE || c.state == FAILED) break;
        }
        close(fd);
        if (c.state == DONE && c.first_byte > 0) lat[ok++] = c.first_byte - t0;
    }
    qsort(lat, (size_t)ok, sizeof(double), cmp_double);
    double sum = 0;
    for (long i = 0; i < ok; i++) sum += lat[i];
    printf("{\"mode\":\"ttfb\",\"count\":%ld,\"ok\":%ld,\"p50_ms\":%.4f,\"p90_ms\":%.4f,"
           "\"p99_ms\":%.4f,\"mean_ms\":%.4f}\n",
           count, ok, pct(lat, ok, 0.5) * 1e3, pct(lat, ok, 0.9) * 1e3, pct(lat, ok, 0.99) * 1e3,
           ok ? sum / ok * 1e3 : 0.0);
    return 0;
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static int run_pair(int argc, char **argv) {
    if (argc < 6) return 2;
    unsigned long long total = strtoull(argv[2], NULL, 10);
    size_t chunk = (size_t)atol(argv[3]);
    int send_cpu = atoi(argv[4]), recv_cpu = atoi(argv[5]);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = server_addr(0);
    socklen_t al = sizeof addr;
    bind(ls, (struct sockaddr *)&addr, sizeof addr);
    listen(ls, 1);
    getsockname(ls, (struct sockaddr *)&addr, &al);
    pid_t pid = fork();
    if (pid == 0) {
        pin(send_cpu);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) _exit(1);
        char *buf = malloc(chunk);
        memset(buf, 'x', chunk);
        unsigned long long sent = 0;
        while (sent < total) {
            size_t want = total - sent < chunk ? (size_t)(total - sent) : chunk;
            ssize_t w = send(fd, buf, want, MSG_NOSIGNAL);
            if (w <= 0) _exit(1);
            sent += (unsigned long long)w;
        }
        close(fd);
        _exit(0);
    }
    pin(recv_cpu);
    int fd = accept(ls, NULL, NULL);
    double t0 = now_s();
    unsigned long long got_total = 0;
    for (;;) {
        ssize_t got = recv(fd, rbuf, sizeof rbuf, 0);
        if (got <= 0) break;
        got_total += (unsigned long long)got;
    }
    double secs = now_s() - t0;
    close(fd);
    waitpid(pid, NULL, 0);
    printf("{\"mode\":\"pair\",\"bytes\":%llu,\"secs\":%.6f,\"mb_s\":%.1f}\n", got_total, secs,
           got_total / secs / 1e6);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "many") == 0) return run_many(argc, argv);
    if (argc > 1 && strcmp(argv[1], "ttfb") == 0) return run_ttfb(argc, argv);
    if (argc > 1 && strcmp(argv[1], "pair") == 0) return run_pair(argc, argv);
    fprintf(stderr, "usage: see the comment at the top of loadgen.c\n");
    return 2;
}
