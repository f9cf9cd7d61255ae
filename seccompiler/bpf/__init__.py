"""Classic BPF as seccomp uses it: instruction tables, encoding, and tools that work on bytes."""
