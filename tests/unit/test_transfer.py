"""Import and export formats: a CSV an editor made in a spreadsheet imports as they typed it, and a bad
row is named with its field while nothing is read from the others."""

from __future__ import annotations

import csv
import io
import json

import pytest

from knowledge.schema import QAPair
from knowledge.transfer import CSV_COLUMNS, ImportProblems, read_csv, read_json, to_csv
from tests.factories import pair_data

pytestmark = pytest.mark.unit


def _csv(rows: list[dict]) -> str:
    out = io.StringIO(newline="")
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return out.getvalue()


def test_csv_export_imports_back_unchanged_with_honest_text_kept_exactly():
    pairs = [
        QAPair.model_validate(pair_data(id="a", answer='An EDSS score < 3, "mild"; conditions = several.\nNew line.')),
        QAPair.model_validate(pair_data(id="b", answer="See javascript: it is text", status="draft", tags=[])),
    ]
    again = read_csv(to_csv(pairs))
    assert again == pairs
    assert again[0].answer == 'An EDSS score < 3, "mild"; conditions = several.\nNew line.'


def test_spreadsheet_cells_become_lists_and_an_empty_id_is_made_from_the_question():
    text = _csv(
        [
            {
                "id": "",
                "question": "Does heat make MS symptoms worse?",
                "alternates": "hot weather ms\nsauna and ms",
                "answer": "It can, for a while.",
                "evidence": "established",
                "caveats": "",
                "sources": json.dumps([{"title": "T", "publisher": "P"}]),
                "tags": "symptoms\nheat",
                "status": "",
                "reviewed_on": "",
                "review_due": "",
            }
        ]
    )
    (pair,) = read_csv("\ufeff" + text)  # a spreadsheet's byte-order mark is ignored
    assert pair.id == "does-heat-make-ms-symptoms-worse"
    assert pair.alternates == ["hot weather ms", "sauna and ms"] and pair.tags == ["symptoms", "heat"]
    assert pair.status == "draft" and pair.sources[0].published is None


def test_one_bad_row_is_named_with_its_fields_and_line_and_nothing_is_returned():
    good = {c: "" for c in CSV_COLUMNS} | {"question": "Q one?", "answer": "A."}
    bad = {c: "" for c in CSV_COLUMNS} | {"question": "Q two?", "answer": "", "evidence": "maybe", "sources": "[{"}
    with pytest.raises(ImportProblems) as caught:
        read_csv(_csv([good, bad, good | {"question": "Q three?"}]))
    (problem,) = caught.value.problems
    assert problem.row == 2 and problem.line == 3
    fields = {e["field"] for e in problem.errors}
    assert {"answer", "evidence", "sources"} <= fields


def test_unknown_or_missing_columns_are_refused_before_any_row():
    with pytest.raises(ImportProblems) as caught:
        read_csv("question,anwser\nQ?,A.\n")
    (problem,) = caught.value.problems
    assert problem.errors[0]["field"] == "(header)" and "answer" in problem.errors[0]["msg"]
    assert "'anwser'" in problem.errors[0]["msg"]


def test_json_rows_duplicate_ids_and_non_objects_are_each_named():
    with pytest.raises(ImportProblems) as caught:
        read_json([pair_data(id="x"), "text", pair_data(id="x"), pair_data(id="y", status="nope")])
    rows = {p.row: p for p in caught.value.problems}
    assert set(rows) == {1, 2, 3}
    assert rows[2].errors[0]["field"] == "id" and "row 0" in rows[2].errors[0]["msg"]
    assert rows[3].errors[0]["field"] == "status"


def test_an_imported_collection_is_for_staff_unless_marked_and_existing_pairs_keep_their_audience():
    rows = [pair_data(id="new-one"), pair_data(id="shipped"), pair_data(id="marked", audience="visitors")]
    pairs = {p.id: p for p in read_json(rows, known={"shipped": "visitors"})}
    assert pairs["new-one"].audience == "staff" and not pairs["new-one"].citable
    assert pairs["shipped"].audience == "visitors" and pairs["marked"].audience == "visitors"
    assert {p.audience for p in read_json(rows[:1], audience="visitors")} == {"visitors"}
