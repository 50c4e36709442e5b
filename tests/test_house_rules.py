"""The house stays as DESIGN.md section 2 draws it: faces call services, layers point down, files stay short."""

from __future__ import annotations

from pathlib import Path

import pytest

import careledger
from tests.house import import_violations, size_violations, undocumented

PACKAGE = Path(careledger.__file__).parent


def test_every_import_follows_the_rules_of_the_house() -> None:
    assert import_violations(PACKAGE) == []


def test_no_module_or_function_is_too_long() -> None:
    assert size_violations(PACKAGE, PACKAGE / "contracts") == []


def test_every_public_function_and_route_says_what_it_answers() -> None:
    assert undocumented(PACKAGE) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    package = root / "careledger"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for directory in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    return package


@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        ({"cli/plan.py": "from careledger.chain import Claims\n"}, "a face imports careledger.chain"),
        ({"api/_auth.py": "from careledger.records._search import PREFIXES\n"}, "a private module of another package"),
        ({"cli/show.py": "def show(node):\n    return node.contracts.claims()\n"}, "a face reaches node.contracts"),
        ({"api/run.py": "def block(node):\n    return node.chain.block_number()\n"}, "a face reaches node.chain"),
        ({"crypto/_keys.py": "from careledger.files import write_atomically\n"}, "crypto imports careledger.files"),
        ({"cli/crash.py": "from careledger._failpoints import crash_point\n"}, "a helper kept for services"),
        ({"chain/_events.py": "from careledger.store import Database\n"}, "chain imports careledger.store"),
        ({"consent/_service.py": "from careledger.cli import app\n"}, "a service imports the face"),
        ({"access/_door.py": "from careledger.store import RecordVersion\n"}, "imports RecordVersion"),
        ({"cli/show.py": "from careledger.node import Node\n"}, "a face imports careledger.node"),
        ({"portal/_app.py": "import careledger.node\n"}, "a face imports careledger.node"),
        ({"api/_app.py": "from careledger import node\n"}, "a face imports careledger.node"),
        ({"cli/x.py": "def rows(self):\n    return self._node._system('x', 1)\n"}, "a face reaches ._system"),
        (
            {"iot/_alerts.py": "from careledger.access import SystemRepository\n"},
            "SystemRepository outside its allowlist",
        ),
        ({"api/_bulk.py": "def rows(node):\n    return node.maintenance.listing()\n"}, "a face reaches .maintenance"),
        ({"portal/_x.py": "def rows(access):\n    return access._records.list()\n"}, "a face reaches ._records"),
        ({"cli/record.py": "def get(node, i):\n    return node.records.get(i)\n"}, "a face reaches .records"),
    ],
)
def test_the_checker_catches_each_broken_rule(tmp_path: Path, files: dict[str, str], complaint: str) -> None:
    (violation,) = import_violations(_tree(tmp_path, files))
    assert complaint in violation


def test_the_checker_passes_a_face_that_calls_services(tmp_path: Path) -> None:
    package = _tree(
        tmp_path,
        {
            "cli/plan.py": "from careledger.claims import Plans\n\n\ndef chain_of(s):\n    return s.chain\n",
            "demo/run.py": "from careledger.api import NodeServer\n",
            "records/_service.py": "from careledger.store import BlobStore, RecordVersion\n",
            "claims/_service.py": "from careledger.access import SystemRepository\n",
            "cli/study.py": "def count(item):\n    return item.records\n",
            "api/_deps.py": "from careledger.services import Services\n",
        },
    )
    assert import_violations(package) == []


def test_the_checker_measures_modules_functions_and_contracts(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    package = _tree(tmp_path, {"iot/_long.py": f"def long():\n{body}\n" + "\n" * 420, "contracts/x.py": ""})
    (package / "contracts" / "Big.vy").write_text("# line\n" * 401)
    found = size_violations(package, package / "contracts")
    assert any("_long.py" in v and "lines (at most 500)" in v for v in found)
    assert any("long is 82 lines" in v for v in found)
    assert any("Big.vy: 401 lines" in v for v in found)


def test_the_door_and_the_record_service_are_held_to_a_stricter_size(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    package = _tree(
        tmp_path,
        {
            "access/_door.py": f"def long():\n{body}\n" + "\n" * 390,
            "iot/_long.py": f"def long():\n{body}\n" + "\n" * 390,
            "node.py": "\n" * 451,
        },
    )
    found = size_violations(package, package / "contracts")
    assert sorted(v.split(":")[0] for v in found) == ["careledger/access/_door.py"] * 2 + ["careledger/node.py"]
    assert any("_door.py: 451 lines (at most 450)" in v for v in found)
    assert any("long is 61 lines (at most 60)" in v for v in found)


def test_the_checker_finds_an_undocumented_route_handler_but_not_a_private_helper(tmp_path: Path) -> None:
    source = (
        "def router():\n"
        '    """The routes."""\n'
        "    def read(record_id):\n"
        "        return record_id\n"
        "    def _helper():\n"
        "        return 1\n"
        "    return read\n"
    )
    (violation,) = undocumented(_tree(tmp_path, {"api/_routes.py": source}))
    assert "read has no docstring" in violation
