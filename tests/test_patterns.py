"""objectNamePattern and the whole-vault class: how they are read, what they match, how loading and
rotation expand them (real SDK against the fake vault, no mount)."""

from __future__ import annotations

import time

import pytest

from kvfs.cli import main
from kvfs.config import ObjectSpec, parse_provider_class
from kvfs.config.whole_vault import whole_vault
from kvfs.content.files import ChangeSet
from kvfs.engine.loader import load_all
from kvfs.engine.rotation import Rotator, served_from
from kvfs.errors import ConfigError
from kvfs.fakevault import FakeVault
from kvfs.vault.backend import BackendSettings, VaultBackend
from tests.helpers import provider_class_yaml


def read_class(objects: list[dict[str, object]]):
    return parse_provider_class(provider_class_yaml(objects, tenant_id="t", client_id="c"), origin="test")


# -- reading ---------------------------------------------------------------------------------------


def test_a_pattern_is_read_with_the_usual_per_object_fields() -> None:
    pc = read_class(
        [
            {"objectName": "plain", "objectType": "secret"},
            {
                "objectNamePattern": "db-*",
                "objectType": "secret",
                "objectEncoding": "base64",
                "filePermission": "0600",
                "optional": "true",
            },
        ]
    )
    plain, pattern = pc.objects
    assert not plain.is_pattern and plain.name_pattern == ""  # the other fields read as before
    assert pattern.is_pattern
    assert (pattern.name_pattern, pattern.encoding, pattern.permission) == ("db-*", "base64", 0o600)
    assert pattern.optional
    assert pattern.file_names() == ()
    match = pattern.expand("db-main")
    assert (match.name, match.alias, match.encoding, match.is_pattern) == ("db-main", "db-main", "base64", False)
    assert match.describe() == 'objects[1] (objectNamePattern "db-*": "db-main")'


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("db-*", "db-main", True),
        ("db-*", "DB-Main", True),  # Key Vault names are case-insensitive
        ("db-*", "api-db", False),
        ("db-?", "db-1", True),
        ("db-?", "db-12", False),
        ("db-[ab]", "db-b", True),
        ("db-[!ab]", "db-b", False),
        ("*", "anything", True),
    ],
)
def test_patterns_match_shell_style_without_case(pattern: str, name: str, matched: bool) -> None:
    assert ObjectSpec(0, "", "secret", "", name_pattern=pattern).matches(name) is matched


def test_a_secret_object_may_name_a_file_a_pattern_will_serve() -> None:
    text = provider_class_yaml(
        [{"objectNamePattern": "db-*", "objectType": "secret"}],
        tenant_id="t",
        client_id="c",
        secret_objects=[{"secretName": "db", "type": "Opaque", "data": [{"objectName": "db-main", "key": "password"}]}],
    )
    pc = parse_provider_class(text, origin="test")
    assert pc.secret_objects[0].data[0].object_name == "db-main"
    with pytest.raises(ConfigError, match='objectName "api" is not the file name'):
        parse_provider_class(text.replace("objectName: db-main", "objectName: api"), origin="test")


# -- the whole vault -------------------------------------------------------------------------------


def test_the_whole_vault_is_three_folders_narrowed_by_include_and_exclude() -> None:
    vault = whole_vault("my-vault", ["db-*", "api-*"], ["*-old"])
    assert vault.url is None
    assert vault.provider_class.vault_url == "https://my-vault.vault.azure.net/"
    secrets, keys, certs = vault.provider_class.objects
    assert [s.expand("x").alias for s in (secrets, keys, certs)] == ["secrets/x", "keys/x.pem", "certificates/x.pem"]
    assert [secrets.matches(n) for n in ("db-a", "api-b", "web", "db-old")] == [True, True, False, False]
    assert secrets.expand("db-a").describe() == 'secret "db-a"'


def test_a_vault_url_in_a_known_cloud_is_that_cloud_and_any_other_is_an_emulator() -> None:
    china = whole_vault("https://corp.vault.azure.cn/")
    assert (china.url, china.provider_class.cloud.name, china.provider_class.keyvault_name) == (
        None,
        "AzureChinaCloud",
        "corp",
    )
    emulator = whole_vault("https://127.0.0.1:8443/")
    assert emulator.url == "https://127.0.0.1:8443/"


@pytest.mark.parametrize(
    ("vault", "include", "message"),
    [
        ("a", None, "not a vault name"),
        ("my_vault", None, "not a vault name"),
        ("http://my-vault.vault.azure.net/", None, "https://"),
        ("my-vault", ["db_*"], "--include 'db_\\*': patterns hold only"),
    ],
)
def test_bad_whole_vault_arguments_are_one_line_errors(vault: str, include: list[str] | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        whole_vault(vault, include)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mount", "--vault", "my-vault", "spc.yaml", "/mnt/x"], "takes only MOUNTPOINT"),
        (["mount", "spc.yaml"], "give CONFIG and MOUNTPOINT"),
        (["mount", "spc.yaml", "/mnt/x", "--include", "db-*"], "--include is for --vault"),
        (["mount", "--vault", "my-vault", "/mnt/x", "--cache-bytes", "12Q"], "not a size"),
    ],
)
def test_mount_arguments_are_checked_with_exit_2(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        code = main(argv)
        raise SystemExit(code)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- loading and rotation through the SDK ------------------------------------------------------------


@pytest.fixture
def backend(vault: FakeVault, credential) -> VaultBackend:
    settings = BackendSettings(vault_url=vault.vault_url, emulator=True, ca_file=str(vault.ca_file), retry_total=0)
    return VaultBackend(settings, credential)


def list_and_get_counts(vault: FakeVault) -> tuple[int, int]:
    paths = [r["path"] for r in vault.requests() if r["method"] == "GET" and r["status"] == 200]
    lists = sum(1 for p in paths if p.startswith(("/secrets?", "/keys?", "/certificates?")) or "$skiptoken" in p)
    return lists, len(paths) - lists


PATTERN = ObjectSpec(0, "", "secret", "", name_pattern="db-*")


@pytest.mark.parametrize("count", [0, 1, 500])
async def test_a_pattern_serves_every_match_or_lists_them(vault: FakeVault, backend: VaultBackend, count: int) -> None:
    for i in range(count):
        vault.set_secret(f"db-{i:03d}", f"v{i}")
    vault.set_secret("other", "not matched")
    vault.clear_requests()
    lazy = await load_all(backend, [PATTERN], lazy_patterns=True)
    assert list_and_get_counts(vault) == ((count + 1 + 24) // 25, 0)  # list pages only: 25 per page
    assert sorted(f.path for f in lazy.all_files()) == [f"db-{i:03d}" for i in range(count)]
    assert all(f.lazy is not None and f.data == b"" for f in lazy.all_files())
    if count <= 1:  # the eager path: every match fetched
        eager = await load_all(backend, [PATTERN])
        assert {f.path: f.data for f in eager.all_files()} == {f"db-{i:03d}": f"v{i}".encode() for i in range(count)}
        assert not eager.failures


async def test_a_named_object_wins_a_path_a_match_would_take(vault: FakeVault, backend: VaultBackend, caplog) -> None:
    vault.set_secret("db-a", "from the pattern")
    vault.set_secret("named", "named wins")
    named = ObjectSpec(0, "named", "secret", "db-a")
    loaded = await load_all(backend, [named, ObjectSpec(1, "", "secret", "", name_pattern="db-*")])
    assert {f.path: f.data for f in loaded.all_files()} == {"db-a": b"named wins"}
    assert not loaded.failures
    assert 'objects[1] (objectNamePattern "db-*": "db-a"): file name "db-a" is also used by' in caplog.text


class Recorder:
    def __init__(self) -> None:
        self.changes: list[ChangeSet] = []

    async def __call__(self, change: ChangeSet) -> None:
        self.changes.append(change)


@pytest.mark.parametrize("lazy", [False, True])
async def test_matches_appear_and_disappear_in_one_poll(vault: FakeVault, backend: VaultBackend, lazy: bool) -> None:
    vault.set_clock(lambda: time.time() - 100)  # old versions: no same-second checks
    vault.set_secret("db-a", "a1")
    vault.set_secret("db-b", "b1")
    loaded = await load_all(backend, [PATTERN], lazy_patterns=lazy)
    recorder = Recorder()
    rotator = Rotator(backend, served_from(loaded), recorder, interval=60, patterns=[PATTERN], lazy_patterns=lazy)
    vault.set_clock(time.time)
    vault.set_secret("db-c", "c1")
    vault.delete("secrets", "db-a")
    vault.clear_requests()
    await rotator.poll_once()
    assert len(recorder.changes) == 1
    change = recorder.changes[0]
    assert sorted(f.path for f in change.files) == ["db-b", "db-c"]
    assert sorted(change.changed) == ["db-a", "db-c"]
    # Eager: the new match is fetched in the poll (one GET); lazy: nothing is fetched.
    assert list_and_get_counts(vault) == (1, 0 if lazy else 1)
    if not lazy:
        assert change.by_path()["db-c"].data == b"c1"

    # A new version of a lazy match gives it a new placeholder (a new mtime), still without a GET.
    vault.set_clock(lambda: time.time() + 100)
    vault.set_secret("db-b", "b2")
    vault.clear_requests()
    await rotator.poll_once()
    assert len(recorder.changes) == 2 and recorder.changes[1].changed == ("db-b",)
    if lazy:
        assert list_and_get_counts(vault) == (1, 0)
        before, after = change.by_path()["db-b"], recorder.changes[1].by_path()["db-b"]
        assert after.lazy is not None and before.lazy is not None and after.lazy.key != before.lazy.key
    else:
        assert recorder.changes[1].by_path()["db-b"].data == b"b2"


async def test_a_failed_listing_keeps_every_match(vault: FakeVault, backend: VaultBackend) -> None:
    vault.set_secret("db-a", "a1")
    loaded = await load_all(backend, [PATTERN], lazy_patterns=True)
    recorder = Recorder()
    rotator = Rotator(backend, served_from(loaded), recorder, interval=60, patterns=[PATTERN], lazy_patterns=True)
    vault.add_fault(status=503, path=r"^/secrets\?")
    poll = await rotator.poll_once()
    assert poll.failures and recorder.changes == []
    assert [f.path for f in rotator.current_files()] == ["db-a"]
