"""Alias and delete say exactly what they changed, and refuse an alias that would lie."""

import pytest
from _cli import run


pytestmark = pytest.mark.timeout(60)


def test_latest_is_refused_as_an_alias_with_the_command_to_use(capsys, tiny_registry):
    code, _, err = run(capsys, "--registry", tiny_registry, "alias", "sign@1", "latest")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith('error: "latest" cannot be an alias: `sign` alone already means the newest version of sign')
    assert "`mldeploy alias sign@1 production`" in err


def test_delete_names_every_alias_it_removes(capsys, tiny_registry):
    assert run(capsys, "--registry", tiny_registry, "alias", "sign@1", "production")[0] == 0
    assert run(capsys, "--registry", tiny_registry, "alias", "sign@1", "staging")[0] == 0
    code, _, err = run(capsys, "--registry", tiny_registry, "delete", "sign@1")
    assert code == 2 and "production" in err
    code, out, _ = run(capsys, "--registry", tiny_registry, "delete", "sign@1", "--force")
    assert code == 0
    assert out.splitlines() == [
        "deleted sign@1",
        "removed alias sign:production, which pointed at sign@1",
        "removed alias sign:staging, which pointed at sign@1",
    ]
