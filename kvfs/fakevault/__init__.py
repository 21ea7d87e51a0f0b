"""A fake Azure Key Vault (and Entra ID authority) over HTTPS, for tests, benchmarks and ``kvfs demo``.

It speaks enough of the real REST API that the unmodified Azure SDK and azure-identity's
WorkloadIdentityCredential work against it. See README.md in this package for the test hooks
(request log, fault injection) and the seed file format.
"""

from .demo import demo_objects
from .errors import FakeVaultError
from .fake import DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID, FakeVault
from .seed import load_seed

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_TENANT_ID", "FakeVault", "FakeVaultError", "demo_objects", "load_seed"]
