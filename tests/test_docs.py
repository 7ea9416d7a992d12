"""The behaviour contract lives in the repository (docs/), and the code cites it correctly."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = [*ROOT.joinpath("sigconv").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py")]


def _text(path):
    return path.read_text(encoding="utf-8")


def test_no_citation_of_a_file_outside_the_repository():
    this = pathlib.Path(__file__).resolve()
    offenders = [str(p) for p in SOURCES if p.resolve() != this and "DESIGN" in _text(p)]
    assert offenders == []


def test_every_cited_contract_section_exists():
    contract = _text(ROOT / "docs" / "contract.md")
    sections = set(re.findall(r"^## §(\d+) ", contract, flags=re.M))
    assert sections == {"1", "2", "3", "4", "5"}
    cited = {
        (str(p.relative_to(ROOT)), n)
        for p in SOURCES
        for n in re.findall(r"docs/contract\.md §(\d+)", _text(p))
    }
    assert cited, "the code cites the contract"
    assert {(p, n) for p, n in cited if n not in sections} == set()


def test_cited_documents_exist():
    cited = set()
    for p in SOURCES:
        cited |= set(re.findall(r"docs/[\w-]+\.md", _text(p)))
    assert cited >= {"docs/contract.md", "docs/performance.md"}
    assert [c for c in cited if not (ROOT / c).is_file()] == []
