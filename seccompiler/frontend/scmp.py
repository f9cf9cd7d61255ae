"""libseccomp's names of actions and comparisons, as OCI seccomp profiles spell them.

``SCMP_ACT_KILL`` is libseccomp's old name of ``SCMP_ACT_KILL_THREAD``: read, never written.
"""

from __future__ import annotations

from seccompiler.program import ActionKind, Op

ACTIONS: dict[str, ActionKind] = {
    "SCMP_ACT_KILL": ActionKind.KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ActionKind.KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": ActionKind.KILL_THREAD,
    "SCMP_ACT_TRAP": ActionKind.TRAP,
    "SCMP_ACT_ERRNO": ActionKind.ERRNO,
    "SCMP_ACT_TRACE": ActionKind.TRACE,
    "SCMP_ACT_ALLOW": ActionKind.ALLOW,
    "SCMP_ACT_LOG": ActionKind.LOG,
    "SCMP_ACT_NOTIFY": ActionKind.USER_NOTIF,
}
ACTION_NAMES: dict[ActionKind, str] = {k: n for n, k in ACTIONS.items() if n != "SCMP_ACT_KILL"}
OPS: dict[str, Op] = {
    "SCMP_CMP_NE": Op.NE,
    "SCMP_CMP_LT": Op.LT,
    "SCMP_CMP_LE": Op.LE,
    "SCMP_CMP_EQ": Op.EQ,
    "SCMP_CMP_GE": Op.GE,
    "SCMP_CMP_GT": Op.GT,
    "SCMP_CMP_MASKED_EQ": Op.MASKED_EQ,
}
OP_NAMES: dict[Op, str] = {v: k for k, v in OPS.items()}
