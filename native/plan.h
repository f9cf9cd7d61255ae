/* The BPF planner's dynamic programme over stretches of items (seccompiler/backends/tree.py,
 * _solve and the window loop of _bit_options), in C because it is where compile spends its
 * time. The Python functions are its twin and its reference: both do the same
 * floating-point operations in the same order (native/build.py compiles with
 * -ffp-contract=off), so their tables are equal bit for bit, and a plan is the same whichever
 * ran (tests/bpf/test_bpf_plan_native.py compares them).
 *
 * Matrices are (n + 1) x (n + 1), row-major: cell (i, j) is the stretch of items i..j-1. */
#include <math.h>

#define TP_SPLIT 0
#define TP_CHAIN 1
#define TP_BIT 2

/* The cost of a chain over items i..j-1 whose background is kind k; 0 when more than
 * max_chain items are of another kind. ``first``: the background's first item. */
static int tp_chain_kind(const double *w, const long *kind, long i, long j, long k,
                         long max_chain, double total, double *out, long *first)
{
    long rest[8];
    long nrest = 0;
    *first = -1;
    for (long t = i; t < j; t++) {
        if (kind[t] != k) {
            if (nrest == max_chain || nrest == 8)
                return 0;
            rest[nrest++] = t;
        } else if (*first < 0)
            *first = t;
    }
    /* heaviest first, then by position: Python's sort by (-weight, item) */
    for (long a = 1; a < nrest; a++) {
        long t = rest[a], b = a;
        while (b > 0 && (w[rest[b - 1]] < w[t] || (w[rest[b - 1]] == w[t] && rest[b - 1] > t))) {
            rest[b] = rest[b - 1];
            b--;
        }
        rest[b] = t;
    }
    double cost = 0.0, w_rest = 0.0;
    for (long p = 0; p < nrest; p++) {
        cost += w[rest[p]] * (double)(p + 1);
        w_rest += w[rest[p]];
    }
    *out = cost + (total - w_rest) * (double)nrest; /* the background pays every test */
    return 1;
}

/* The cheapest chain over items i..j-1 (a jeq per exception, then the background's answer);
 * 0 when no chain serves them. As tree.py's _chain; only its cost is needed here. */
static int tp_chain(const double *w, const unsigned char *single, const long *kind, long i,
                    long j, long max_chain, double *out)
{
    long wide = -2;
    for (long t = i; t < j; t++) {
        if (!single[t]) {
            long k = kind[t];
            if (k < 0 || (wide != -2 && k != wide))
                return 0;
            wide = k;
        }
    }
    double total = 0.0;
    for (long t = i; t < j; t++)
        total += w[t];
    int found = 0;
    double best = 0.0, c;
    long best_first = 0, first;
    for (long s = i; s < j; s++) {
        long k = wide != -2 ? wide : kind[s];
        if (wide != -2 && s > i)
            break; /* an item wider than one number: its kind is the only background */
        if (k < 0)
            continue;
        int seen = 0; /* each kind once, at its first item */
        for (long t = i; t < s && wide == -2; t++)
            seen |= kind[t] == k;
        if (seen || !tp_chain_kind(w, kind, i, j, k, max_chain, total, &c, &first))
            continue;
        if (!found || c < best || (c == best && first < best_first)) {
            found = 1;
            best = c;
            best_first = first;
        }
    }
    if (found)
        *out = best;
    return found;
}

/* How far from each i a chain can reach (tree.py's _reach). */
static void tp_reach(long n, const unsigned char *single, const long *kind, long max_chain,
                     long *reach)
{
    for (long i = 0; i < n; i++) {
        long wide = -2, j = i;
        while (j < n && j - i < 2 * max_chain + 1) {
            long k = kind[j];
            if (!single[j]) {
                if (k < 0 || (wide != -2 && wide != k))
                    break;
                wide = k;
            }
            long background = 0;
            if (wide != -2) {
                for (long t = i; t <= j; t++)
                    background += kind[t] == wide;
            } else {
                for (long s = i; s <= j; s++) {
                    long count = 0;
                    if (kind[s] < 0)
                        continue;
                    for (long t = i; t <= j; t++)
                        count += kind[t] == kind[s];
                    if (count > background)
                        background = count;
                }
            }
            if (j + 1 - i - background > max_chain)
                break;
            j++;
        }
        reach[i] = j;
    }
}

/* The programme: cost, root (the best split) and choice (TP_SPLIT, TP_CHAIN, TP_BIT) of every
 * stretch of at most ``band`` items (0: no limit); ``option`` (NULL: none) holds the cost of a
 * jset answering each stretch, INFINITY where there is none. ``exact`` tries every split
 * point, else Knuth's bound. ``pre`` (n + 1 doubles) and ``reach`` (n longs) are scratch. */
void tp_solve(long n, const double *w, const unsigned char *single, const long *kind, long exact,
              long band, long max_chain, const double *option, double *cost, long *root,
              unsigned char *choice, double *pre, long *reach)
{
    long m = n + 1;
    for (long x = 0; x < m * m; x++) {
        cost[x] = 0.0;
        root[x] = 0;
        choice[x] = TP_SPLIT;
    }
    double acc = 0.0;
    pre[0] = 0.0;
    for (long t = 0; t < n; t++) {
        acc += w[t];
        pre[t + 1] = acc;
    }
    tp_reach(n, single, kind, max_chain, reach);
    for (long i = n - 1; i >= 0; i--) {
        double *cost_i = cost + (size_t)i * m;
        long *root_i = root + (size_t)i * m;
        const long *root_next = root + (size_t)(i + 1 < n ? i + 1 : i) * m;
        double base = pre[i];
        long top = band > 0 && i + band < n ? i + band : n;
        for (long j = i + 2; j <= top; j++) {
            long best_k;
            double best;
            if (j == i + 2) {
                best_k = i + 1;
                best = 0.0;
            } else {
                long lo = exact ? i + 1 : root_i[j - 1];
                long hi = exact ? j - 1 : root_next[j];
                best_k = lo;
                best = cost_i[lo] + cost[(size_t)lo * m + j];
                for (long k = lo + 1; k <= hi; k++) {
                    double c = cost_i[k] + cost[(size_t)k * m + j];
                    if (c < best) {
                        best_k = k;
                        best = c;
                    }
                }
            }
            root_i[j] = best_k;
            best += pre[j] - base;
            unsigned char how = TP_SPLIT;
            double c;
            if (j <= reach[i] && tp_chain(w, single, kind, i, j, max_chain, &c) && c < best) {
                best = c;
                how = TP_CHAIN;
            }
            if (option) {
                double o = option[(size_t)i * m + j];
                if (o < best - 1e-12) {
                    best = o;
                    how = TP_BIT;
                }
            }
            cost_i[j] = best;
            choice[(size_t)i * m + j] = how;
        }
    }
}

/* One bit's jset over every stretch of 3..span items (tree.py's _bit_options, its window
 * loop): the cost of the test, plus each side's cost as a stretch of that side's table
 * (c0: (n0 + 1) x (n0 + 1), f0/l0: the first and one past the last fragment of items i.. and
 * ..j-1), where it is cheaper than ``best``; ``bit_of`` says which bit. */
void tp_windows(long n, long span, const double *pre, const long *f0, const long *l0,
                const double *c0, long n0, const long *f1, const long *l1, const double *c1,
                long n1, long bit, double *best, long *bit_of)
{
    long m = n + 1, m0 = n0 + 1, m1 = n1 + 1;
    for (long i = 0; i < n - 2; i++) {
        long a0 = f0[i], a1 = f1[i];
        double base = pre[i];
        long top = i + span < n ? i + span : n;
        for (long j = i + 3; j <= top; j++) {
            long b0 = l0[j], b1 = l1[j];
            if (b0 > a0 && b1 > a1) {
                double c = pre[j] - base + c0[(size_t)a0 * m0 + b0] + c1[(size_t)a1 * m1 + b1];
                if (c < best[(size_t)i * m + j] - 1e-12) {
                    best[(size_t)i * m + j] = c;
                    bit_of[(size_t)i * m + j] = bit;
                }
            }
        }
    }
}
