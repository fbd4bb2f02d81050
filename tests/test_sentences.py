"""The rule-based sentence splitter: abbreviations, decimals, quotes, headlines, bullets."""

from __future__ import annotations

from pathlib import Path

import pytest

from stance.sentences import split_sentences

SEED = Path(__file__).resolve().parent.parent / "data/articles/a001-nato-air-missile-defence.txt"

CASES = [
    # (text, expected sentences)
    ("One. Two.", ["One.", "Two."]),
    ("Is it over? Yes!", ["Is it over?", "Yes!"]),
    (
        "The U.S. Navy sent two destroyers. They arrived Friday.",
        ["The U.S. Navy sent two destroyers.", "They arrived Friday."],
    ),
    ("Troops left the U.S. The move surprised allies.", ["Troops left the U.S.", "The move surprised allies."]),
    ("Gen. Mark Ellis spoke. He was brief.", ["Gen. Mark Ellis spoke.", "He was brief."]),
    ("Dr. Amara Diallo led the team.", ["Dr. Amara Diallo led the team."]),
    ("The deal was signed on Jan. 14 in Oslo.", ["The deal was signed on Jan. 14 in Oslo."]),
    ("Resolution No. 2231 remains in force.", ["Resolution No. 2231 remains in force."]),
    ("Spending rose 3.5 percent. Officials cheered.", ["Spending rose 3.5 percent.", "Officials cheered."]),
    ("It costs $1.2 billion.", ["It costs $1.2 billion."]),
    (
        "Patriot and SAMP/T batteries were bought. More will follow.",
        ["Patriot and SAMP/T batteries were bought.", "More will follow."],
    ),
    ("Patriot and SAMP / T batteries arrived.", ["Patriot and SAMP / T batteries arrived."]),
    ('"We will not escalate," she said. "We want talks."', ['"We will not escalate," she said.', '"We want talks."']),
    ("“Russia is dangerous. It lies,” he said.", ["“Russia is dangerous.", "It lies,” he said."]),
    ('"Are we safe?" asked one resident.', ['"Are we safe?" asked one resident.']),
    ("He said: “We are ready.” Then he left.", ["He said: “We are ready.”", "Then he left."]),
    (
        "Home / News / Defence\nMinistry Orders Drones\nThe ministry ordered drones.",
        ["Home / News / Defence", "Ministry Orders Drones", "The ministry ordered drones."],
    ),
    (
        "Headline Without Stop\n\nBody starts here. It continues.",
        ["Headline Without Stop", "Body starts here.", "It continues."],
    ),
    (
        "Measures:\n- buy radars\n- train crews\n- fund drones",
        ["Measures:", "buy radars", "train crews", "fund drones"],
    ),
    ("Steps:\n1. Close the airport.\n2. Alert the police.", ["Steps:", "Close the airport.", "Alert the police."]),
    ("• First point\n• Second point", ["First point", "Second point"]),
    (
        "The minister said the threat\nwas growing. Nobody disagreed.",
        ["The minister said the threat was growing.", "Nobody disagreed."],
    ),
    ("John F. Kennedy was president.", ["John F. Kennedy was president."]),
    ("The U.N. Security Council met. It adjourned.", ["The U.N. Security Council met.", "It adjourned."]),
    ("Lt. Col. Ruiz and Capt. Ito briefed reporters.", ["Lt. Col. Ruiz and Capt. Ito briefed reporters."]),
    ("Wait... what happened? Nobody knows.", ["Wait... what happened?", "Nobody knows."]),
    (
        "The drones (about 40 of them.) crossed. Then radar lost them.",
        ["The drones (about 40 of them.) crossed.", "Then radar lost them."],
    ),
    ("18:22 Police say the road is open. More soon.", ["18:22 Police say the road is open.", "More soon."]),
    ("Q: Will you buy more? A: Yes.", ["Q: Will you buy more?", "A: Yes."]),
    ("It happened in 2024. In 2025 it stopped.", ["It happened in 2024.", "In 2025 it stopped."]),
    (
        "Mr. Okafor, Mrs. Lee and Ms. Park agreed, e.g. on budgets.",
        ["Mr. Okafor, Mrs. Lee and Ms. Park agreed, e.g. on budgets."],
    ),
    ("\ufeffA BOM starts this. Fine.", ["A BOM starts this.", "Fine."]),
    ("Line one.\r\nLine two.", ["Line one.", "Line two."]),
    ("", []),
    ("   \n\n  ", []),
    ("No final punctuation", ["No final punctuation"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split(text, expected):
    assert split_sentences(text) == expected


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


def test_seed_article_breadcrumb_and_quotes():
    from stance.articles import read_article

    sentences = split_sentences(read_article(SEED).text)
    assert sentences[1].startswith("Home / News / ")
    assert "SSC-8 missiles can be used in two ways, they are mobile and difficult to detect." in sentences
    assert sentences[-1].endswith("we will not deploy new ground-based nuclear missiles in Europe.”")
