"""Tests find their files relative to the repository: a clean clone anywhere (CI's is in another folder) runs
them the same. No test file names the folder the checkout happens to live in."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_test_reads_a_fixed_absolute_path_beside_the_checkout() -> None:
    outside = f"{ROOT.parent}/"  # the checkout's neighbours: shared/, other clones
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if outside in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == [], f"these tests name {outside}...: use paths relative to the repository"
