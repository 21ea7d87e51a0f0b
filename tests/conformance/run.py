"""Run the Azure SDK's own Key Vault test suites, in live mode, against the fake vault.

Usage: .venv/bin/python -m tests.conformance.run [--packages secrets keys certificates] [--timeout 60]

Why: the SDK's tests are the widest description of what clients expect from Key Vault; passing them is the
measure of how far the fake is from the service. Each package's suite runs twice, concurrently:

- main: the fake serves https://NAME.vault.azure.net on port 443 (challenge-resource verification stays on);
  the name resolves to 127.0.0.1 only inside the pytest process's own mount namespace (a private /etc/hosts).
- control: the same name and the authority point at a loopback address where nothing listens. Tests that pass
  there never needed the vault (unit tests with mocks); the others "reach the vault" and are the ones counted.

The suites come from the packages' sdists (the versions installed here), cached with their extra test
dependencies under ~/.cache/kvfs-conformance (KVFS_CONFORMANCE_CACHE overrides). Must run as root (port 443,
mount namespaces). The last run's JUnit XML and pytest logs stay in the cache's ``last-run`` directory.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kvfs.fakevault import FakeVault

HERE = Path(__file__).resolve().parent
PACKAGES = {
    "secrets": "azure-keyvault-secrets",
    "keys": "azure-keyvault-keys",
    "certificates": "azure-keyvault-certificates",
}
VAULT_NAME = "kvfs-conformance"
DEAD_ADDRESS = "127.0.0.9"  # loopback, nothing listens: the control run's vault and authority
# Test-only dependencies the suites import that the project does not install, by the module that needs them.
# Installed without their own dependencies (the rest is in the venv) into the cache, never into the venv.
EXTRA_DEPS = {
    "aiohttp": [
        "aiohttp==3.14.5",
        "aiohappyeyeballs==2.7.1",
        "aiosignal==1.4.0",
        "frozenlist==1.8.0",
        "multidict==7.2.1",
        "propcache==0.5.4",
        "yarl==1.25.1",
    ],
    "pytest_asyncio": ["pytest-asyncio==1.5.0"],
    "dateutil": ["python-dateutil==4.0.0", "six==1.17.0"],
    # The certificates merge test reads a CSR with pyOpenSSL's load_certificate_request, which cryptography 45+
    # no longer backs; this pair, in the suites' path only, shadows the venv's cryptography there.
    "OpenSSL": ["pyOpenSSL==25.0.0", "cryptography==44.0.3"],
}
PYTEST_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\njunit_family = xunit2\n"
VAULT_ROOTS = ("secrets", "keys", "certificates", "deleted", "rng", "restore")


@dataclass(frozen=True)
class Options:
    """How the suites run: per-test timeout (s), cap on their sleeps (s, None = none), the vault SKU they assume."""

    timeout: float = 60
    max_sleep: float | None = 1.0  # at least 1: some tests sleep 1 s so that timestamps (whole seconds) differ
    sku: str = "standard"  # the fake models a standard vault; premium also runs key release (needs attestation)


@dataclass
class Outcome:
    """One test case's result in a JUnit report."""

    status: str  # passed, failed, error, skipped
    message: str = ""


@dataclass
class PackageResult:
    """Figures for one package's suite: the main run, and which tests the control run says reach the vault."""

    package: str
    version: str
    seconds: float
    main: dict[str, Outcome]
    control: dict[str, Outcome]
    error_answers: Counter[str] = field(default_factory=Counter)

    def count(self, *statuses: str) -> int:
        return sum(1 for o in self.main.values() if o.status in statuses)

    @property
    def reaching(self) -> list[str]:
        """Tests that fail without a vault: run for real in the main run (not skipped there)."""
        return [
            test
            for test, outcome in self.main.items()
            if outcome.status != "skipped" and self.control.get(test, Outcome("failed")).status in {"failed", "error"}
        ]

    @property
    def reaching_passed(self) -> int:
        return sum(1 for test in self.reaching if self.main[test].status == "passed")

    @property
    def reasons(self) -> Counter[str]:
        """Failures among the tests that reach the vault, grouped by exception type and service error code."""
        return Counter(
            failure_reason(self.main[t].message) for t in self.reaching if self.main[t].status in {"failed", "error"}
        )

    @property
    def skip_reasons(self) -> Counter[str]:
        """Why the main run skipped tests (the suites' own reasons: Managed HSM, premium SKU, live-only flakiness)."""
        return Counter(
            re.sub(r"\s+", " ", o.message.removeprefix("Skipped: "))[:100] or "(no reason given)"
            for o in self.main.values()
            if o.status == "skipped"
        )

    @property
    def unexplained(self) -> int:
        """Tests that pass without a vault but fail with the fake: should stay 0 (else the harness is at fault)."""
        return sum(
            1
            for test, outcome in self.main.items()
            if outcome.status in {"failed", "error"} and self.control.get(test, Outcome("")).status == "passed"
        )


def cache_dir() -> Path:
    return Path(os.environ.get("KVFS_CONFORMANCE_CACHE", Path.home() / ".cache" / "kvfs-conformance"))


def fetch_suite(dist: str, version: str, cache: Path) -> Path:
    """The ``tests`` directory of ``dist``'s sdist at ``version``: downloaded and unpacked once, then cached."""
    suite = cache / "suites" / f"{dist}-{version}"
    tests = suite / "tests"
    if (tests / "conftest.py").exists():
        return tests
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    archive = sdists / f"{dist.replace('-', '_')}-{version}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"{dist}=={version}", "-d", str(sdists)],
            check=True,
        )  # fmt: skip
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=cache))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"]]
            tar.extractall(staging, members=members, filter="data")
        shutil.rmtree(suite, ignore_errors=True)
        suite.parent.mkdir(parents=True, exist_ok=True)
        (staging / members[0].name.split("/")[0]).rename(suite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    (tests / "pytest.ini").write_text(PYTEST_INI)  # makes the suite its own rootdir: no project settings leak in
    return tests


def supply_missing_ca(tests: Path) -> None:
    """Write ``ca.key``/``ca.crt`` when the suite reads them and its sdist leaves them out (the certificates
    package's merge test signs the vault's CSR with them): a fresh self-signed CA, as the files hold."""
    users = [p for p in tests.glob("test_*.py") if '"ca.key"' in p.read_text()]
    if not users or (tests / "ca.key").exists():
        return
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kvfs conformance CA")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tests / "ca.key").write_bytes(pem)
    (tests / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))


def _dist_info(requirement: str) -> str:
    """``pytest-asyncio==1.5.0`` -> ``pytest_asyncio-1.5.0.dist-info``: how pip names what it installed."""
    name, version = requirement.split("==")
    return f"{name.replace('-', '_').lower()}-{version}.dist-info"


def ensure_test_deps(cache: Path) -> Path:
    """A directory, put on PYTHONPATH, holding the suites' test dependencies the venv lacks."""
    target = cache / "deps"
    installed = {p.name.lower() for p in target.glob("*.dist-info")} if target.exists() else set()
    missing = [
        req
        for module, reqs in EXTRA_DEPS.items()
        if importlib.util.find_spec(module) is None
        for req in reqs
        if _dist_info(req) not in installed
    ]
    if missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade", "--target", str(target),
             *missing],
            check=True,
        )  # fmt: skip
    return target


def suite_env(
    *,
    vault_url: str,
    authority: str,
    ca_file: Path,
    tenant_id: str,
    client_id: str,
    secret: str,
    deps: Path,
    sku: str,
) -> dict[str, str]:
    """Environment of a suite run: live mode without recording, the fake's identity, nothing of ours leaking."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "KEYVAULT_", "IDENTITY_", "MSI_", "PYTEST_", "KVFS_"))
    }
    return {
        **inherited,
        "AZURE_TEST_RUN_LIVE": "true",
        "AZURE_SKIP_LIVE_RECORDING": "true",
        "AZURE_KEYVAULT_URL": vault_url,
        "KEYVAULT_TENANT_ID": tenant_id,
        "KEYVAULT_CLIENT_ID": client_id,
        "KEYVAULT_CLIENT_SECRET": secret,
        "KEYVAULT_SKU": sku,
        "AZURE_TENANT_ID": tenant_id,
        "AZURE_CLIENT_ID": client_id,
        "AZURE_CLIENT_SECRET": secret,
        "KEYVAULT_AUTHORITY_HOST": authority,  # not AZURE_AUTHORITY_HOST: see devtools_testutils.get_credential
        "REQUESTS_CA_BUNDLE": str(ca_file),
        "SSL_CERT_FILE": str(ca_file),  # aiohttp and other OpenSSL default contexts
        "PYTHONPATH": os.pathsep.join([str(HERE), str(deps)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def start_pytest(tests: Path, hosts: Path, env: dict[str, str], out: Path, options: Options) -> subprocess.Popen[bytes]:
    """pytest on ``tests`` in a mount namespace whose /etc/hosts is ``hosts``; the machine's file is untouched.

    Writes ``out`` + ``.xml`` (JUnit) and ``.log``.
    """
    script = f'mount --bind {shlex.quote(str(hosts))} /etc/hosts && exec "$@"'
    command = [
        sys.executable, "-m", "pytest", str(tests), "-p", "devtools_testutils.pytest_plugin", "-p", "no:cacheprovider",
        "--continue-on-collection-errors", f"--junitxml={out}.xml", f"--timeout={options.timeout}",
        "-q", "--no-header", "-rN", "--durations=10",
    ]  # fmt: skip
    if options.max_sleep is not None:
        command += ["--max-sleep", str(options.max_sleep)]
    with Path(f"{out}.log").open("wb") as log:
        return subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *command],
            cwd=tests, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def parse_junit(path: Path) -> dict[str, Outcome]:
    """Test id -> outcome; a missing report (pytest died) is an empty run."""
    if not path.exists():
        return {}
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = Outcome("passed")
        for status, tag in (("skipped", "skipped"), ("error", "error"), ("failed", "failure")):
            element = case.find(tag)
            if element is not None:
                outcome = Outcome(status, element.get("message") or (element.text or "").strip())
        outcomes[test] = outcome
    return outcomes


_CODE = re.compile(r"\(([A-Za-z][A-Za-z0-9_]*)\)|Code: ([A-Za-z][A-Za-z0-9_]*)")
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception|Failed|Exit|Interrupt))\b:?")


def failure_reason(message: str) -> str:
    """A failure's group: exception type, plus the service's error code and the route when the fake names them."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    first = re.sub(r'^failed on (?:setup|teardown) with "(?:file \S+, line \d+)?', "", first).strip()
    if first.startswith("Failed: Timeout") or "Timeout (>" in first:
        return "Timeout"
    if first.startswith("assert "):
        return "AssertionError"
    found = _EXCEPTION.match(first)
    kind = found.group(1) if found else first[:60]
    code = _CODE.search(first[found.end() :] if found else "")
    reason = f"{kind} ({code.group(1) or code.group(2)})" if code else kind
    if route := re.search(r"(?:No route for|is not allowed on) (/\S+?)\.?(?:\s|$)", first):
        reason += " " + vault_route(route.group(1))
    return reason


def vault_route(path: str) -> str:
    """A vault path with names and versions replaced: /keys/{name}/{version}/sign."""
    segments = [unquote(s) for s in urlsplit(path).path.split("/") if s]
    out: list[str] = []
    for i, segment in enumerate(segments):
        if re.fullmatch(r"[0-9a-f]{32}", segment):
            out.append("{version}")
        elif (i == 1 and segment not in {"restore", "issuers", "contacts"}) or (i == 2 and segments[1] == "issuers"):
            out.append("{name}")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def error_answers(requests: Sequence[dict[str, object]]) -> Counter[str]:
    """The fake's error answers to vault routes (401 challenges aside), by method, route and status."""
    counts: Counter[str] = Counter()
    for request in requests:
        path, status = str(request["path"]), request["status"]
        if not path.lstrip("/").startswith(VAULT_ROOTS) or not isinstance(status, int) or status < 400:
            continue
        if status != 401:
            counts[f"{request['method']} {vault_route(path)} -> {status}"] += 1
    return counts


def _hosts_file(directory: Path, address: str) -> Path:
    hosts = directory / f"hosts-{address}"
    hosts.write_text(f"127.0.0.1 localhost\n::1 localhost\n{address} {VAULT_NAME}.vault.azure.net\n")
    return hosts


def _check_dead_address() -> None:
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex((DEAD_ADDRESS, 443)) == 0:
            raise RuntimeError(f"something listens on {DEAD_ADDRESS}:443; the control run needs a closed port")


def run_package(package: str, *, cache: Path, deps: Path, workdir: Path, options: Options) -> PackageResult:
    """Main and control runs of one package's suite, side by side, against a fresh fake vault."""
    dist = PACKAGES[package]
    version = importlib.metadata.version(dist)
    tests = fetch_suite(dist, version, cache)
    supply_missing_ca(tests)
    started = time.monotonic()
    with FakeVault(state_dir=workdir / f"{package}-vault", port=443, vault_name=VAULT_NAME) as fv:
        common = {
            "vault_url": fv.vault_url, "ca_file": fv.ca_file, "tenant_id": fv.tenant_id, "client_id": fv.client_id,
            "secret": fv.client_secret, "deps": deps, "sku": options.sku,
        }  # fmt: skip
        runs = [
            start_pytest(tests, _hosts_file(workdir, address), suite_env(authority=authority, **common),
                         workdir / f"{package}-{run}", options)
            for run, address, authority in (
                ("main", "127.0.0.1", fv.authority_host),
                ("control", DEAD_ADDRESS, f"https://{DEAD_ADDRESS}"),
            )
        ]  # fmt: skip
        for process in runs:
            process.wait()
        answers = error_answers(fv.requests())
    outcomes = {}
    for run, process in zip(("main", "control"), runs, strict=True):
        outcomes[run] = parse_junit(workdir / f"{package}-{run}.xml")
        if process.returncode not in (0, 1) or not outcomes[run]:  # 1: some tests failed; more: pytest broke
            raise RuntimeError(f"{dist} {run} run: pytest exited {process.returncode}, see {package}-{run}.log")
    return PackageResult(
        package=dist,
        version=version,
        seconds=time.monotonic() - started,
        main=outcomes["main"],
        control=outcomes["control"],
        error_answers=answers,
    )


def run_conformance(packages: Sequence[str] = tuple(PACKAGES), options: Options | None = None) -> list[PackageResult]:
    """Every package in turn (one fake on port 443 at a time); results kept in the cache's ``last-run``."""
    if os.geteuid() != 0:
        raise RuntimeError("run as root: the fake listens on port 443 and pytest runs in its own mount namespace")
    _check_dead_address()
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    deps = ensure_test_deps(cache)
    workdir = cache / "last-run"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    return [
        run_package(package, cache=cache, deps=deps, workdir=workdir, options=options or Options())
        for package in packages
    ]


def summary_rows(results: Sequence[PackageResult]) -> list[list[object]]:
    """One row per package for the summary table (see SUMMARY_HEADER)."""
    rows: list[list[object]] = []
    for r in results:
        reaching = len(r.reaching)
        share = f"{100 * r.reaching_passed / reaching:.0f}%" if reaching else "-"
        rows.append([
            f"{r.package} {r.version}", len(r.main), r.count("passed"), r.count("failed", "error"),
            r.count("skipped"), reaching, r.reaching_passed, share, r.unexplained, f"{r.seconds:.0f}",
        ])  # fmt: skip
    return rows


SUMMARY_HEADER = [
    "package", "collected", "passed", "failed", "skipped", "reach vault", "passed of those", "share",
    "unexplained", "seconds",
]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--packages", nargs="+", choices=list(PACKAGES), default=list(PACKAGES))
    parser.add_argument("--timeout", type=float, default=60, help="per-test timeout, seconds (default 60)")
    parser.add_argument("--max-sleep", type=float, default=1.0, help="cap on the suites' sleeps, seconds")
    parser.add_argument("--real-sleeps", action="store_true", help="do not cap sleeps (much slower)")
    parser.add_argument(
        "--sku", choices=["standard", "premium"], default="standard", help="KEYVAULT_SKU for the suites"
    )
    parser.add_argument("--top", type=int, default=8, help="failure reasons shown per package")
    args = parser.parse_args(argv)
    from tests.bench.bench_conformance import report  # the tables; the bench runs this module the same way

    started = time.monotonic()
    max_sleep = None if args.real_sleeps else args.max_sleep
    results = run_conformance(args.packages, Options(timeout=args.timeout, max_sleep=max_sleep, sku=args.sku))
    report(results, top=args.top)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
