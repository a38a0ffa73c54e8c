"""The shared contract's invocation, secret-file and log tests, run against the Kubernetes provider.

The shared suite (tests/integration/provider) skips tests marked ``invokes`` for kubernetes; here they run,
because the test API server runs each pod as a real watchdog process and publishes its address in an
EndpointSlice, so replicas are reachable as they would be from a gateway inside a cluster.
"""

from __future__ import annotations

import pytest

from pyfaas.provider.base import Provider
from pyfaas.provider.kubernetes import KubernetesProvider
from tests.integration.provider.test_provider_contract import (
    test_function_reads_only_its_secrets_as_files,
    test_invoke_python_and_fork_functions,
    test_logs_tail_since_and_follow,
)

__all__ = [
    "test_function_reads_only_its_secrets_as_files",
    "test_invoke_python_and_fork_functions",
    "test_logs_tail_since_and_follow",
]


@pytest.fixture
def any_provider(provider: KubernetesProvider) -> Provider:
    return provider
