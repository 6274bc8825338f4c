"""The sentence splitter: properties on the seed articles, and hand-written news cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extract.core.sentences import MAX_SPAN_CHARS, number_text, split_sentences

SEEDS = sorted((Path(__file__).resolve().parents[1] / "gold" / "articles").glob("*.txt"))


def _check_cover(text: str, max_chars: int = MAX_SPAN_CHARS) -> None:
    spans = split_sentences(text, max_chars)
    assert [s.number for s in spans] == list(range(1, len(spans) + 1))
    pos = 0
    for s in spans:
        assert s.text == text[s.start : s.end]
        assert s.start >= pos, "spans overlap or go backwards"
        assert not text[pos : s.start].strip(), f"text between spans is lost: {text[pos : s.start]!r}"
        assert s.text == s.text.strip() and s.text
        assert len(s.text) <= max_chars
        pos = s.end
    assert not text[pos:].strip()


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_seed_spans_cover_the_text_in_order(path: Path) -> None:
    _check_cover(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_seed_spans_never_cross_a_line_or_split_an_abbreviation(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    spans = split_sentences(text)
    ends = {s.end for s in spans}
    for m in re.finditer(r"\b(?:[A-Z]\.){2,}|\b(?:Gen|Lt|Col|Jan|Dr|Mr)\.|\d\.\d", text):
        inside = [e for e in ends if m.start() < e < m.end() + 1 and e != len(text)]
        assert not inside, f"split after {m.group(0)!r}"
    for s in spans:  # a headline never runs into the next line unless that line continues it
        for line in s.text.split("\n")[1:]:
            assert line.strip()[:1].islower()
    # every line of the article that holds text starts a span
    starts = {s.start for s in spans}
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped[0].islower():
            assert pos + line.index(stripped[0]) in starts
        pos += len(line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "BEIRUT (AP) — Rebels shot down a jet on Saturday. The pilot was killed.",
            ["BEIRUT (AP) — Rebels shot down a jet on Saturday.", "The pilot was killed."],
            id="dateline-stays-with-its-sentence",
        ),
        pytest.param(
            "The U.S. military said Gen. Smith and Lt. Col. Jones arrived on Jan. 5. They left.",
            ["The U.S. military said Gen. Smith and Lt. Col. Jones arrived on Jan. 5.", "They left."],
            id="abbreviations-and-titles",
        ),
        pytest.param(
            "Rebels downed a jet\nThe pilot ejected over the town.",
            ["Rebels downed a jet", "The pilot ejected over the town."],
            id="headline-without-full-stop",
        ),
        pytest.param(
            '"We shot it down," a commander said. "It fell near the base!" another added. Then silence.',
            ['"We shot it down," a commander said.', '"It fell near the base!" another added.', "Then silence."],
            id="quotes-inside-sentences",
        ),
        pytest.param(
            "Prices rose 2.5 percent in 2015. Losses were $3.2 million.",
            ["Prices rose 2.5 percent in 2015.", "Losses were $3.2 million."],
            id="decimals",
        ),
        pytest.param(
            "He paused... and went on. It was over… The end.",
            ["He paused... and went on.", "It was over…", "The end."],
            id="ellipses",
        ),
        pytest.param(
            "The helicopter was hit over the\nprovince and crashed near the border.",
            ["The helicopter was hit over the\nprovince and crashed near the border."],
            id="hard-wrapped-line-joined",
        ),
        pytest.param(
            "Officials said J. R. Smith saw it. The U.N. said nothing.",
            ["Officials said J. R. Smith saw it.", "The U.N. said nothing."],
            id="initials",
        ),
        pytest.param(
            "Was it a missile? Nobody knows! Reports vary.",
            ["Was it a missile?", "Nobody knows!", "Reports vary."],
            id="question-and-exclamation",
        ),
        pytest.param(
            "Shelling hit the city. Łódź officials said nothing. Ḥomṣ was quiet.",
            ["Shelling hit the city.", "Łódź officials said nothing.", "Ḥomṣ was quiet."],
            id="capitals-of-any-script",
        ),
        pytest.param("", [], id="empty"),
        pytest.param("  \n\n ", [], id="only-space"),
    ],
)
def test_hand_written_cases(text: str, expected: list[str]) -> None:
    assert [s.text for s in split_sentences(text)] == expected
    _check_cover(text)


def test_a_long_sentence_is_cut_at_inner_breaks_into_numbered_spans() -> None:
    clause = "the convoy moved along the highway under fire from the hills"
    text = "; ".join([clause] * 12) + ". Next sentence."
    spans = split_sentences(text, max_chars=150)
    assert len(spans) > 4
    assert all(len(s.text) <= 150 for s in spans)
    assert all(s.text.startswith("the convoy") for s in spans[:-1])  # cut at the semicolons
    assert spans[-1].text == "Next sentence."
    _check_cover(text, 150)


def test_a_long_run_without_breaks_is_still_cut() -> None:
    text = "x" * 1000
    spans = split_sentences(text, max_chars=100)
    assert [len(s.text) for s in spans] == [100] * 10


def test_number_text_shows_numbers_and_folds_line_breaks() -> None:
    spans = split_sentences("First line\nSecond part of the\nline goes on. Third.")
    assert number_text(spans) == "[1] First line\n[2] Second part of the line goes on.\n[3] Third."


def test_max_chars_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        split_sentences("text", max_chars=5)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab. ,\n!?\"'…U.SJ5")), max_size=300))
def test_any_text_is_covered(text: str) -> None:
    _check_cover(text, 40)


def test_cli_sentences_prints_numbers_offsets_and_candidates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from extract.cli import main

    article = tmp_path / "a.txt"
    text = "Jet downed near Hama\nBEIRUT (AP) — Rebels shot down a Su-25. Five soldiers died."
    article.write_text(text, encoding="utf-8")
    assert main(["sentences", str(article), "--candidates"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[1] 0-20  Jet downed near Hama"
    assert lines[1].startswith("[2] 21-60  BEIRUT (AP)")
    assert lines[2] == f"[3] {text.index('Five')}-{len(text)}  Five soldiers died."
    assert lines[3].startswith("names (") and "Su-25" in lines[3] and "Hama" in lines[3]
    assert lines[4] == "numbers (2): 1, 5"


def test_cli_sentences_json_round_trips_the_offsets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from extract.cli import main

    text = SEEDS[0].read_text(encoding="utf-8")
    assert main(["sentences", str(SEEDS[0]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert all(text[s["start"] : s["end"]] == s["text"] for s in data["sentences"])
    assert [s["n"] for s in data["sentences"]] == list(range(1, len(data["sentences"]) + 1))


@pytest.mark.parametrize(
    ("content", "message"),
    [pytest.param(None, "no such file", id="missing"), pytest.param(b"\xff\xfe\x00bad", "not UTF-8", id="binary")],
)
def test_cli_sentences_bad_input_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    from extract.cli import main

    path = tmp_path / "bad.txt"
    if content is not None:
        path.write_bytes(content)
    assert main(["sentences", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and message in err
