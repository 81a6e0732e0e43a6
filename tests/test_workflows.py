"""The GitHub workflows: valid against GitHub's schema, and least privilege."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
    ]
    return subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, check=False)


def test_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["pages.yml", "tests.yml"]


def test_workflows_match_the_schema() -> None:
    result = lint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linter_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: oops\n")
    assert lint(broken).returncode != 0


def test_least_privilege() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        top = re.search(r"^permissions:(.*)$", text, re.M)
        assert top, f"{path.name}: no top-level permissions"
        assert "write" not in top.group(1), path.name
    pages = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    assert "permissions: {}" in pages
    assert re.search(r"deploy:.*?permissions:\s+pages: write\s+id-token: write", pages, re.S)
    assert "branches: [main]" in pages
    assert "python build.py" in pages and "path: dist" in pages
