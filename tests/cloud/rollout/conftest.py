"""The rollout tests: the model registry tests' throw-away signing key (trusted by any service a test
starts) and the cloud fixtures of tests/cloud (SQLite and PostgreSQL)."""
from tests.cloud.model_registry.conftest import packages, signer, trusted_keys_file  # noqa: F401
