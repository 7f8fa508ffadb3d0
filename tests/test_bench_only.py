"""`python -m bench --only`: re-run some sections, keep the others from the report's
JSON, write the report again. The workloads themselves are not run here (they are
the benchmark); a stand-in section result exercises the merge and the report."""

from __future__ import annotations

import compileall
import json
import shutil
from pathlib import Path

import pytest

run = pytest.importorskip("bench.run")

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(DOCS / "benchmarks.json", tmp_path / "benchmarks.json")
    monkeypatch.setattr(compileall, "compile_dir", lambda *a, **k: True)
    monkeypatch.setattr(run, "postgres_url", lambda: None)
    return tmp_path / "benchmarks.md"


def test_only_reruns_the_named_sections_and_keeps_the_rest(
    report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = json.loads(report.with_suffix(".json").read_text())
    fresh = {**before["imports"], "import_ms": 1.5}
    label, _ = run.SECTIONS["imports"]
    monkeypatch.setitem(run.SECTIONS, "imports", (label, lambda a, pg, r: fresh))
    assert run.main(["--only", "imports", "--out", str(report)]) == 0
    after = json.loads(report.with_suffix(".json").read_text())
    assert after["imports"]["import_ms"] == 1.5
    assert after["aws"] == before["aws"] and after["machine"] == before["machine"]
    # Earlier `--only` runs stay recorded; this one adds (or replaces) its own entry.
    assert set(after["refreshed"]) == set(before.get("refreshed", {})) | {"imports"}
    assert after["refreshed"]["imports"] != before.get("refreshed", {}).get("imports")
    assert {k: v for k, v in after["refreshed"].items() if k != "imports"} == {
        k: v for k, v in before.get("refreshed", {}).items() if k != "imports"
    }
    text = report.read_text()
    assert "| `import dynsecrets` | < 50 ms | 1.5 ms | met |" in text
    assert "Re-run alone since (`python -m bench --only`): imports (commit" in text


def test_only_refuses_unknown_sections_and_mixing_quick_with_full(report: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run.main(["--only", "imports,nope", "--out", str(report)])
    assert info.value.code == 2
    with pytest.raises(SystemExit, match="same --quick"):
        run.main(["--only", "imports", "--quick", "--out", str(report)])
    with pytest.raises(SystemExit, match="needs the results of a full run"):
        run.main(["--only", "imports", "--out", str(report.with_name("none.md"))])
