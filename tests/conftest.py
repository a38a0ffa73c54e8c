"""Root test configuration: shared across every area, so it stays tiny.

Areas keep their fixtures in importable modules under ``tests/support/`` and list them here in
``pytest_plugins`` (one line each) when they must be visible everywhere.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

pytest_plugins: list[str] = [
    # kube_cluster: a real Kubernetes (PYFAAS_TEST_KUBECONFIG / PYFAAS_KUBE_ASSETS)
    "tests.support.kube_live",
]

# The test machine is shared and busy: a per-example deadline would make property tests flaky, not stricter.
settings.register_profile(
    "pyfaas", deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("pyfaas")
