/* The interface of the cffi module seccompiler._native: native.c defines it, native/build.py
 * hands this same text to cffi as its declarations (so: declarations only, no preprocessor
 * lines). */
long sc_install_filter(const unsigned char *prog, size_t len, unsigned long flags);
long sc_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sc_syscall_i386(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sc_syscall_x32(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
/* Which entries this build has: SC_ENTRY_NATIVE 1, SC_ENTRY_INT80 2, SC_ENTRY_X32 4. */
long sc_entries(void);
/* The BPF planner's programme (native/plan.h; tree.py's _solve and _bit_options are its twin):
 * matrices are (n + 1) x (n + 1), row-major; 0 for band: no limit; option may be NULL. */
void tp_solve(long n, const double *w, const unsigned char *single, const long *kind, long exact,
              long band, long max_chain, const double *option, double *cost, long *root,
              unsigned char *choice, double *pre, long *reach);
void tp_windows(long n, long span, const double *pre, const long *f0, const long *l0,
                const double *c0, long n0, const long *f1, const long *l1, const double *c1,
                long n1, long bit, double *best, long *bit_of);
