"""Conformance of the fake vault: the Azure SDK's own Key Vault suites, live against it (tests/conformance).

Run: .venv/bin/python -m tests.conformance.run   (as root; about 5 minutes; downloads the suites' sdists once)
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.bench.common import print_table
from tests.conformance.run import SUMMARY_HEADER, PackageResult, cache_dir, run_conformance, summary_rows


def report(results: Sequence[PackageResult], top: int = 8) -> None:
    """Per package figures, then each package's commonest failures and the fake's error answers behind them."""
    print_table("Azure SDK Key Vault suites, live against the fake vault", SUMMARY_HEADER, summary_rows(results))
    for result in results:
        if reasons := result.reasons.most_common(top):
            print_table(f"{result.package}: top failure reasons (tests reaching the vault)", ["reason", "tests"],
                        reasons)  # fmt: skip
        if skips := result.skip_reasons.most_common(top):
            print_table(f"{result.package}: why tests were skipped", ["reason (the suite's own)", "tests"], skips)
        if answers := result.error_answers.most_common(top):
            print_table(f"{result.package}: the fake's error answers", ["request -> status", "count"], answers)
    print(f"\nJUnit XML and pytest logs: {cache_dir() / 'last-run'}")


def run() -> None:
    report(run_conformance())
