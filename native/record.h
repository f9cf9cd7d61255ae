/* Counting calls in the launcher: every notified call for `seccompiler record`, and the
 * refusals past the first SC_DETAILED, which are reported one line each (native/answer.h).
 *
 * Under --record the workload's filter notifies every syscall; the launcher answers each as
 * its answer filter says (native/answer.h) and counts it here by (arch token, number, the
 * arguments the supervisor asked to keep for that syscall). Every other argument counts as
 * zero: pointers and lengths would make every call a key of its own. At the end the counts
 * go to the status pipe as "seen ARCH NR A0..A5 COUNT" lines (decimal), then "tasks N" (the
 * distinct thread ids that made a call) and, when the table was full, "more COUNT" (calls
 * counted but not kept by key). Memory is bounded: SC_REC_KEYS keys, SC_REC_TASKS tasks.
 *
 * Refusals: a workload that loops on a refused call would otherwise make the status text,
 * and everyone who holds it, grow without bound. Past SC_DETAILED lines, each refusal is
 * counted by (executable, arch, number, result) with up to SC_REF_PIDS of the thread ids
 * that made it; at the end "refused-more ARCH NR RESULT COUNT PIDS EXE" lines (PIDS: comma
 * separated, "+" after them when there were more; EXE in hex as in "refused" lines), and
 * "refused-unkept COUNT" for refusals past SC_REF_KEYS keys or SC_REF_EXES executables.
 * Static functions only: launch.c includes this.
 */
#ifndef SC_RECORD_H
#define SC_RECORD_H

#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SC_REC_KEYS (1u << 16)  /* distinct keys kept; the table has twice as many slots */
#define SC_REC_TASKS (1u << 17) /* distinct thread ids counted; the set has twice as many */
#define SC_REC_KEEP_MAX 4096    /* (arch, nr) pairs whose arguments are kept */

struct sc_rec_slot {
    uint64_t count; /* 0: empty */
    uint32_t arch, nr;
    uint64_t args[6];
};

struct sc_rec_keep {
    uint32_t arch, nr;
    unsigned mask; /* bit i: keep args[i] */
};

struct sc_rec {
    struct sc_rec_slot *slots; /* 2 * SC_REC_KEYS */
    uint32_t *tasks;           /* 2 * SC_REC_TASKS; 0: empty */
    struct sc_rec_keep keep[SC_REC_KEEP_MAX];
    size_t nkeep, keys, ntasks;
    uint64_t more;
};

static int sc_keep_cmp(const void *a, const void *b)
{
    const struct sc_rec_keep *x = a, *y = b;
    if (x->arch != y->arch)
        return x->arch < y->arch ? -1 : 1;
    if (x->nr != y->nr)
        return x->nr < y->nr ? -1 : 1;
    return 0;
}

static void *sc_rec_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Set up from "ARCH:NR:MASK,..." (decimal; empty: no argument is kept). -1 on a malformed
 * or too long list. */
static int sc_rec_init(struct sc_rec *r, const char *spec)
{
    const char *p = spec;

    memset(r, 0, sizeof(*r));
    while (*p) {
        unsigned long arch, nr, mask;
        char *end;
        if (r->nkeep == SC_REC_KEEP_MAX)
            return -1;
        arch = strtoul(p, &end, 10);
        if (end == p || *end != ':')
            return -1;
        p = end + 1;
        nr = strtoul(p, &end, 10);
        if (end == p || *end != ':')
            return -1;
        p = end + 1;
        mask = strtoul(p, &end, 10);
        if (end == p || (*end && *end != ',') || arch > UINT32_MAX || nr > UINT32_MAX ||
            mask > 63)
            return -1;
        r->keep[r->nkeep++] = (struct sc_rec_keep){(uint32_t)arch, (uint32_t)nr, (unsigned)mask};
        p = *end ? end + 1 : end;
    }
    qsort(r->keep, r->nkeep, sizeof(r->keep[0]), sc_keep_cmp);
    r->slots = sc_rec_map(2 * SC_REC_KEYS * sizeof(*r->slots));
    r->tasks = sc_rec_map(2 * SC_REC_TASKS * sizeof(*r->tasks));
    return r->slots && r->tasks ? 0 : -1;
}

static uint64_t sc_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

static void sc_rec_task(struct sc_rec *r, uint32_t pid)
{
    size_t cap = 2 * SC_REC_TASKS, i;
    if (!pid)
        return; /* not visible from the launcher's namespace */
    for (i = sc_mix(0, pid) & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (r->tasks[i] == pid)
            return;
        if (!r->tasks[i])
            break;
    }
    if (r->ntasks < SC_REC_TASKS) {
        r->tasks[i] = pid;
        r->ntasks++;
    }
}

/* Count one call. */
static void sc_rec_count(struct sc_rec *r, const struct seccomp_data *d, uint32_t pid)
{
    struct sc_rec_keep probe = {d->arch, (uint32_t)d->nr, 0}, *k;
    uint64_t args[6] = {0}, h;
    size_t cap = 2 * SC_REC_KEYS, i;

    sc_rec_task(r, pid);
    k = bsearch(&probe, r->keep, r->nkeep, sizeof(probe), sc_keep_cmp);
    h = sc_mix(sc_mix(0, d->arch), (uint32_t)d->nr);
    for (int a = 0; a < 6; a++) {
        if (k && (k->mask >> a & 1))
            args[a] = d->args[a];
        h = sc_mix(h, args[a]);
    }
    for (i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct sc_rec_slot *s = &r->slots[i];
        if (!s->count)
            break;
        if (s->arch == d->arch && s->nr == (uint32_t)d->nr && !memcmp(s->args, args, sizeof(args))) {
            s->count++;
            return;
        }
    }
    if (r->keys == SC_REC_KEYS) {
        r->more++;
        return;
    }
    r->slots[i] = (struct sc_rec_slot){1, d->arch, (uint32_t)d->nr, {0}};
    memcpy(r->slots[i].args, args, sizeof(args));
    r->keys++;
}

static int sc_rec_flush(int out, char *buf, size_t *len)
{
    size_t done = 0;
    while (done < *len) {
        ssize_t w = write(out, buf + done, *len - done);
        if (w < 0)
            return -1;
        done += (size_t)w;
    }
    *len = 0;
    return 0;
}

/* Write the counts to `out`; -1 when it cannot be written. */
static int sc_rec_write(const struct sc_rec *r, int out)
{
    char buf[16384];
    size_t len = 0;

    for (size_t i = 0; i < 2 * SC_REC_KEYS; i++) {
        const struct sc_rec_slot *s = &r->slots[i];
        if (!s->count)
            continue;
        if (len > sizeof(buf) - 256 && sc_rec_flush(out, buf, &len) < 0)
            return -1;
        len += (size_t)snprintf(buf + len, 256, "seen %u %u %llu %llu %llu %llu %llu %llu %llu\n",
                                s->arch, s->nr, (unsigned long long)s->args[0],
                                (unsigned long long)s->args[1], (unsigned long long)s->args[2],
                                (unsigned long long)s->args[3], (unsigned long long)s->args[4],
                                (unsigned long long)s->args[5], (unsigned long long)s->count);
    }
    len += (size_t)snprintf(buf + len, 64, "tasks %zu\n", r->ntasks);
    if (r->more)
        len += (size_t)snprintf(buf + len, 64, "more %llu\n", (unsigned long long)r->more);
    return sc_rec_flush(out, buf, &len);
}

#define SC_DETAILED 4096   /* refusals reported one line each */
#define SC_REF_KEYS 4096   /* (executable, arch, number, result) counted past those */
#define SC_REF_EXES 256    /* executables those name */
#define SC_REF_PIDS 8      /* thread ids kept per key */

struct sc_ref_slot {
    uint64_t count; /* 0: empty */
    uint32_t arch, nr, ret, exe;
    uint32_t pids[SC_REF_PIDS];
    unsigned npids, more_pids;
};

struct sc_refusals {
    size_t detailed, keys, nexes;
    uint64_t unkept;
    struct sc_ref_slot *slots; /* 2 * SC_REF_KEYS, mapped on the first one counted */
    char *exes[SC_REF_EXES];
    size_t exe_len[SC_REF_EXES];
};

/* Whether the refusal is the next detailed one; else it is counted here. */
static int sc_ref_detailed(struct sc_refusals *r, const struct seccomp_data *d, uint32_t ret,
                           uint32_t pid, const char *exe, size_t el)
{
    size_t cap = 2 * SC_REF_KEYS, i, e;
    uint64_t h;

    if (r->detailed < SC_DETAILED) {
        r->detailed++;
        return 1;
    }
    for (e = 0; e < r->nexes; e++)
        if (r->exe_len[e] == el && !memcmp(r->exes[e], exe, el))
            break;
    if (e == r->nexes) {
        if (e == SC_REF_EXES || !(r->exes[e] = malloc(el ? el : 1))) {
            r->unkept++;
            return 0;
        }
        memcpy(r->exes[e], exe, el);
        r->exe_len[e] = el;
        r->nexes++;
    }
    if (!r->slots && !(r->slots = sc_rec_map(cap * sizeof(*r->slots)))) {
        r->unkept++;
        return 0;
    }
    h = sc_mix(sc_mix(sc_mix(sc_mix(0, d->arch), (uint32_t)d->nr), ret), e);
    for (i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct sc_ref_slot *s = &r->slots[i];
        if (!s->count) {
            if (r->keys == SC_REF_KEYS) {
                r->unkept++;
                return 0;
            }
            *s = (struct sc_ref_slot){0, d->arch, (uint32_t)d->nr, ret, (uint32_t)e, {0}, 0, 0};
            r->keys++;
            break;
        }
        if (s->arch == d->arch && s->nr == (uint32_t)d->nr && s->ret == ret && s->exe == e)
            break;
    }
    struct sc_ref_slot *s = &r->slots[i];
    s->count++;
    for (unsigned k = 0; k < s->npids; k++)
        if (s->pids[k] == pid)
            return 0;
    if (s->npids < SC_REF_PIDS)
        s->pids[s->npids++] = pid;
    else
        s->more_pids = 1;
    return 0;
}

/* Write the counted refusals to `out`; -1 when it cannot be written. */
static int sc_ref_write(const struct sc_refusals *r, int out)
{
    char buf[16384];
    size_t len = 0;

    for (size_t i = 0; r->slots && i < 2 * SC_REF_KEYS; i++) {
        const struct sc_ref_slot *s = &r->slots[i];
        if (!s->count)
            continue;
        if (sc_rec_flush(out, buf, &len) < 0)
            return -1;
        len = (size_t)snprintf(buf, 256, "refused-more %u %u %u %llu ", s->arch, s->nr, s->ret,
                               (unsigned long long)s->count);
        for (unsigned k = 0; k < s->npids; k++)
            len += (size_t)snprintf(buf + len, 16, k ? ",%u" : "%u", s->pids[k]);
        if (s->more_pids)
            buf[len++] = '+';
        buf[len++] = ' ';
        for (size_t c = 0; c < r->exe_len[s->exe]; c++)
            len += (size_t)snprintf(buf + len, 3, "%02x", (unsigned char)r->exes[s->exe][c]);
        buf[len++] = '\n';
    }
    if (r->unkept)
        len += (size_t)snprintf(buf + len, 64, "refused-unkept %llu\n", (unsigned long long)r->unkept);
    return sc_rec_flush(out, buf, &len);
}

#endif
