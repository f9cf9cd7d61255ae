"""Pod Security Standards, offline: the admission controller's checks, labels and a guard.

The pipeline: manifests (YAML/JSON, Lists, workloads) ──manifests──▶ located pod objects
──registry──▶ per-level, per-version results with upstream's messages ──evaluate──▶ verdicts
for a namespace policy. ``labels`` builds namespace labels, ``guard`` the admission policy
that refuses privileged namespaces, ``admission`` the API server's PodSecurity configuration.
"""
