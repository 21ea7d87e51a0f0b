"""The long fuzz of the SecretProviderClass reader: the properties of tests/test_config_fuzz.py, 20,000
examples each instead of CI's few hundred, randomised with a printed seed.

Run: .venv/bin/python -m tests.bench fuzz   (KVFS_FUZZ_EXAMPLES=N for another budget, KVFS_FUZZ_SEED=N
to repeat a run). It runs pytest on the test file in a subprocess, so a failure prints Hypothesis's
shrunk example and ``@reproduce_failure`` blob as in CI; the table counts the examples each property
tried, how many were valid classes, how many were refused with one good line, and how many failed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.bench.common import print_table

ROOT = Path(__file__).resolve().parents[2]
TEST_FILE = ROOT / "tests" / "test_config_fuzz.py"
DEFAULT_EXAMPLES = 20_000
#: The properties, as the test file names them, and the key of their counts.
PROPERTIES = {
    "test_generated_documents_are_a_class_or_one_line_naming_the_field": "documents",
    "test_mutated_good_files_are_a_class_or_one_line_naming_the_field": "mutants",
    "test_any_text_is_a_class_or_one_line": "text",
    "test_kvfs_check_exits_2_with_one_line_for_refused_classes": "cli",
}


def fuzz(examples: int, seed: int) -> tuple[dict[str, dict[str, int]], dict[str, tuple[str, float]], float, int]:
    """Run the test file with the long budget: the counts per property, each test's (outcome, seconds),
    the wall time, and pytest's exit status."""
    with tempfile.TemporaryDirectory(prefix="kvfs-bench-fuzz-") as tmp:
        stats_file, junit = Path(tmp) / "stats.json", Path(tmp) / "junit.xml"
        env = dict(os.environ, KVFS_FUZZ_EXAMPLES=str(examples), KVFS_FUZZ_STATS=str(stats_file))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
                   f"--hypothesis-seed={seed}", f"--junitxml={junit}", str(TEST_FILE)]  # fmt: skip
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=env, check=False)
        elapsed = time.monotonic() - started
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        outcomes = _outcomes(junit) if junit.exists() else {}
    return stats, outcomes, elapsed, result.returncode


def _outcomes(junit: Path) -> dict[str, tuple[str, float]]:
    """Each test's outcome (ok, FAILED, error, skipped) and seconds, from pytest's JUnit XML report."""
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None:
            outcome = "FAILED"
        elif case.find("error") is not None:
            outcome = "error"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "ok"
        outcomes[case.get("name", "")] = (outcome, float(case.get("time", "0")))
    return outcomes


def run() -> None:
    examples = int(os.environ.get("KVFS_FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
    seed = int(os.environ.get("KVFS_FUZZ_SEED") or random.randrange(2**32))
    print(f"fuzzing the SecretProviderClass reader: {examples} examples per property, seed {seed}")
    stats, outcomes, elapsed, status = fuzz(examples, seed)
    rows = []
    for test, key in PROPERTIES.items():
        counts = stats.get(key, {})
        outcome, seconds = outcomes.get(test, ("not run", 0.0))
        tried = counts.get("tried", 0)
        rows.append([key, tried, counts.get("valid", 0), counts.get("rejected", 0), counts.get("failing", 0),
                     outcome, f"{seconds:.0f}", f"{tried / seconds:.0f}" if seconds else "-"])  # fmt: skip
    others = [name for name, (outcome, _) in outcomes.items() if name not in PROPERTIES and outcome != "ok"]
    print_table(
        f"Fuzz of the class reader ({examples} examples per property, seed {seed}, {elapsed:.0f} s; "
        "'tried' includes Hypothesis's shrinking, 'failing' the examples that broke the property)",
        ["property", "tried", "valid", "refused with one line", "failing", "outcome", "s", "examples/s"],
        rows,
    )
    if others:
        print(f"other tests of the file that did not pass: {', '.join(others)}")
    if status != 0:
        print(f"to repeat: KVFS_FUZZ_EXAMPLES={examples} KVFS_FUZZ_SEED={seed} .venv/bin/python -m tests.bench fuzz")
        sys.exit(f"fuzz: pytest exited {status}")


if __name__ == "__main__":
    run()
