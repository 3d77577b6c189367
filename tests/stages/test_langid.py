import hashlib
import json
from collections import Counter

from conftest import FIXTURES, docs, needs_fixtures

from thresher.stages.langid import LID_MODEL_SHA256, LanguageFilter, lid_model_path


def test_labels_every_row_and_keeps_listed_languages():
    df = docs(
        "The committee met on Tuesday to discuss the budget for next year.",
        "Le comité s'est réuni mardi pour discuter du budget de l'année prochaine.",
        "委员会周二开会讨论明年的预算问题，并决定推迟投票。",
        "",
    )
    kept, dropped, stats = LanguageFilter(keep=["en", "zh"])(df)
    assert kept["id"].to_list() == ["0", "2"]
    assert kept["lang"].to_list() == ["en", "zh"]
    assert dict(zip(dropped["id"], dropped["reason"], strict=True)) == {
        "1": "other_language",
        "3": "no_language",
    }
    assert stats["hit/other_language"] == 1
    assert stats["rows_in"] - stats["rows_out"] == 2


def test_empty_keep_list_keeps_every_confident_language():
    df = docs("Der Ausschuss trat am Dienstag zusammen, um den Haushalt zu beraten.")
    kept, _, _ = LanguageFilter(keep=[], min_score=0.5)(df)
    assert kept["lang"].to_list() == ["de"]


def test_threshold_drops_unsure_rows():
    df = docs("ok ok 123 xyz")
    kept, dropped, _ = LanguageFilter(keep=[], min_score=0.99)(df)
    assert kept.height == 0 and dropped["reason"].to_list() == ["low_lang_score"]


@needs_fixtures
def test_lid_accuracy_on_fixture_sentences():
    rows = [json.loads(line) for line in (FIXTURES / "lid" / "sentences.jsonl").open()]
    df = docs(*[r["text"] for r in rows])
    kept, _, _ = LanguageFilter(keep=[], min_score=0.0)(df)
    right = sum(a == r["lang"] for a, r in zip(kept["lang"], rows, strict=True))
    accuracy = right / len(rows)
    wrong = Counter(r["lang"] for a, r in zip(kept["lang"], rows, strict=True) if a != r["lang"])
    assert accuracy >= 0.97, (accuracy, wrong)


def test_the_shipped_lid_model_is_the_known_file():
    # thresher ships lid.176.ftz itself (pipeline/data/lid/NOTICE.md says why); a changed or
    # missing file would change every `lang` column without a word.
    path = lid_model_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LID_MODEL_SHA256
    assert (path.parent / "NOTICE.md").is_file()
