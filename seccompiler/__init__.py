"""seccompiler: declarative syscall policies compiled to seccomp filters, with proofs."""

__version__ = "0.1.0"
