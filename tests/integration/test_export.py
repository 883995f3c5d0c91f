"""Exporting the store back to knowledge/qa/*.yml: an untouched store reproduces the shipped files, an
editor's change lands in its pair's place, and what is written passes `make validate`."""

from __future__ import annotations

import shutil

import pytest
import yaml

from knowledge.export import export_store, main
from knowledge.loader import QA_DIR, load_pair_files
from knowledge.schema import QAPair
from knowledge.store import Store
from knowledge.validate import validate
from tests.factories import pair_data

pytestmark = pytest.mark.integration


@pytest.fixture
def qa_dir(tmp_path):
    target = tmp_path / "qa"
    shutil.copytree(QA_DIR, target)
    return target


@pytest.fixture
def seeded(store_url):
    store = Store(store_url)
    store.seed([p for _f, p in load_pair_files()])
    yield store
    store.close()


def test_an_untouched_store_exports_the_shipped_files_unchanged_and_valid(seeded, qa_dir, encoder):
    report = export_store(seeded, qa_dir)
    assert report.written == [] and report.changed == [] and report.dropped == [] and report.added == {}
    for path in sorted(QA_DIR.glob("*.yml")):
        assert (qa_dir / path.name).read_bytes() == path.read_bytes(), path.name
    assert load_pair_files(qa_dir) == load_pair_files()
    assert validate(qa_dir, encoder=encoder).ok


def test_every_shipped_pair_rewritten_in_the_files_style_reads_back_the_same(seeded, qa_dir, encoder):
    """Strip the files to their headers: the export writes every pair anew, and says the same."""
    for path in qa_dir.glob("*.yml"):
        header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
        path.write_text(header + "pairs: []\n")
    report = export_store(seeded, qa_dir)
    assert sum(len(v) for v in report.added.values()) == len(seeded.published_pairs())
    exported = {p.id: p for _f, p in load_pair_files(qa_dir)}
    assert exported == {p.id: p for p in seeded.published_pairs()}
    assert validate(qa_dir, encoder=encoder).ok


def test_editors_changes_land_in_place_new_pairs_by_tag_and_unpublished_ones_leave(seeded, qa_dir):
    before = {name: pair.id for name, pair in load_pair_files(qa_dir)}
    files: dict[str, list[str]] = {}
    for name, pair in load_pair_files(qa_dir):
        files.setdefault(name, []).append(pair.id)
    myths = files["myths.yml"]
    changed_id, dropped_id, deleted_id = myths[1], myths[2], files["trials.yml"][0]

    changed = seeded.get(changed_id)
    seeded.replace(
        changed.pair.model_copy(update={"answer": 'First paragraph: with a colon, "quotes" and # hash.\nSecond one.'}),
        changed.version,
        "alice",
    )
    to_draft = seeded.get(dropped_id)
    seeded.replace(to_draft.pair.model_copy(update={"status": "draft"}), to_draft.version, "alice")
    seeded.delete(deleted_id, seeded.get(deleted_id).version, "alice")
    seeded.create(QAPair.model_validate(pair_data(id="zz-new-myth", tags=["myths"])), "alice")
    seeded.create(QAPair.model_validate(pair_data(id="brand-new", tags=["New_Topic"])), "alice")
    seeded.create(QAPair.model_validate(pair_data(id="untagged", tags=[])), "alice")
    seeded.create(QAPair.model_validate(pair_data(id="a-draft", status="draft")), "alice")

    assert main([seeded.url, "--qa-dir", str(qa_dir)]) == 0
    after = load_pair_files(qa_dir)
    where = {pair.id: name for name, pair in after}
    order = [pair.id for name, pair in after if name == "myths.yml"]
    assert order == [i for i in myths if i != dropped_id] + ["zz-new-myth"]
    assert where["brand-new"] == "new-topic.yml" and where["untagged"] == "added.yml"
    assert dropped_id not in where and deleted_id not in where and "a-draft" not in where
    assert {p.id: p for _n, p in after} == {p.id: p for p in seeded.published_pairs()}
    assert all(where[i] == n for i, n in before.items() if i in where)
    # The changed answer keeps its two paragraphs; untouched files are byte for byte the same.
    assert {p.id: p for _n, p in after}[changed_id].answer.endswith("# hash.\nSecond one.")
    for name in ("ms-basics.yml", "risks.yml", "studies.yml"):
        assert (qa_dir / name).read_bytes() == (QA_DIR / name).read_bytes()
    text = (qa_dir / "myths.yml").read_text()
    assert text.startswith((QA_DIR / "myths.yml").read_text().split("pairs:")[0]) and "answer: >-" in text
    assert yaml.safe_load(text)["pairs"][-1]["id"] == "zz-new-myth"
    # A second export of the same store changes nothing.
    again = export_store(seeded, qa_dir)
    assert again.written == [] and again.changed == []
