"""A fake Azure Key Vault (with an Entra ID authority and an IMDS) for tests, benchmarks and ``kvfs demo``.

It speaks enough of the real REST APIs that the unmodified Azure SDK and azure-identity's
WorkloadIdentityCredential and ManagedIdentityCredential work against it. See README.md in this package
for the identity set-up, the test hooks (request log, fault injection) and the seed file format.
"""

from .cluster import FEDERATED_SUBJECT, FEDERATION_AUDIENCE
from .demo import demo_objects
from .errors import FakeVaultError
from .fake import DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID, FakeVault
from .federation import FederatedCredential
from .imds import ManagedIdentity
from .seed import load_seed

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_TENANT_ID",
    "FEDERATED_SUBJECT",
    "FEDERATION_AUDIENCE",
    "FakeVault",
    "FakeVaultError",
    "FederatedCredential",
    "ManagedIdentity",
    "demo_objects",
    "load_seed",
]
