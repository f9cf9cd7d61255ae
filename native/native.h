/* The interface of the cffi module seccompiler._native: native.c defines it, native/build.py
 * hands this same text to cffi as its declarations (so: declarations only, no preprocessor
 * lines). */
long sc_install_filter(const unsigned char *prog, size_t len, unsigned long flags);
long sc_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sc_syscall_i386(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sc_syscall_x32(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
/* Which entries this build has: SC_ENTRY_NATIVE 1, SC_ENTRY_INT80 2, SC_ENTRY_X32 4. */
long sc_entries(void);
