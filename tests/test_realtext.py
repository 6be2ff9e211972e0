"""A researcher's own corpus, end to end: tokenizers chosen per corpus, lengths from the data, a split by source,
evaluation on the corpus's own held-out rows, files of sources in and outputs out. On small files the tests write
(punctuation, prices, unseen names, several references per source, one long outlier, a byte-order mark), and on the
shipped example corpus."""

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from diffusion import checkpoint
from diffusion.__main__ import main
from diffusion.corpus.loaders import load_corpus, read_columns
from diffusion.corpus.tokenizer import CONTINUES, SPACE, UNK_ID, TextTokenizer
from diffusion.metrics import (corpus_bleu, mr_slots, nearest_source_outputs, reference_streams, well_formed,
                               well_formed_rate)
from diffusion.rows import fit_length

from conftest import fixture_umap_stand_in

ROOT = Path(__file__).resolve().parents[1]
STAYS = ROOT / "assets" / "corpora" / "stays.csv"

NAMES = ["The Lantern", "Harbour View", "Kestrel Camp", "Villa Sorrento", "The Copper Kettle", "Bramble Cottage",
         "Oak House", "Mill Lodge", "Rose Inn", "The Anchor", "Fern B&B", "Larch Hostel", "Quay Rooms", "Gull's Rest",
         "Beacon Hotel", "Heron Barn", "Tide House", "Wren Cottage", "Moss Inn", "Pier Rooms"]
KINDS_OF_PLACE = ["inn", "hotel", "hostel", "guesthouse"]
AREAS = ["the old town", "the harbour", "the riverside"]


def _pairs(long_row: bool = True) -> list[tuple[str, str]]:
    """MR -> description pairs: five phrasings per MR, punctuation and prices, and one long outlier (its MR one that
    the split puts in training: a row added to a source's group does not move the group)."""
    rows = []
    for i, name in enumerate(NAMES + [f"{n} Annexe" for n in NAMES[:10]]):
        kind, area, price = KINDS_OF_PLACE[i % 4], AREAS[i % 3], [45, 60, 85, 120][i % 4]
        mr = f"name[{name}], type[{kind}], area[{area}], price[£{price} a night]"
        rows += [(mr, f"{name} is a {kind} in {area}, at £{price} a night."),
                 (mr, f"In {area}, {name} ({kind}) costs £{price} a night. It's friendly."),
                 (mr, f"For £{price} a night, {name} is a {kind} in {area}."),
                 (mr, f"{name}: a {kind} in {area}; £{price} a night."),
                 (mr, f"Stay at {name}, a {kind} in {area} (£{price} a night).")]
    if long_row:
        from diffusion.corpus.loaders import _split_rows

        trained_on = _split_rows("pairs", [t for _, t in rows], [s for s, _ in rows]).sources["train"][0]
        rows.append((trained_on, " ".join(["It goes on, and on, and on."] * 12)))
    return rows


def _write_csv(path: Path, rows: list[tuple[str, str]], header=("mr", "description"), bom: bool = True) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def pairs_csv(tmp_path_factory) -> Path:
    return _write_csv(tmp_path_factory.mktemp("corpus") / "stays.csv", _pairs())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, pairs_csv) -> dict[str, Path]:
    """Tiny checkpoints trained by the CLI on the fixture: every family (seq2seq with BPE)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for family, extra in [("ar", ["--columns", "description"]), ("ardm", ["--columns", "description"]),
                          ("sedd", ["--columns", "description"]), ("continuous", ["--columns", "description"]),
                          ("seq2seq", ["--columns", "mr,description", "--tokenizer", "bpe"])]:
        out[family] = root / family
        with fixture_umap_stand_in():
            assert main(["train", "--family", family, "--preset", "tiny", "--corpus", str(pairs_csv), "--steps", "4",
                         "--out", str(out[family]), *extra]) == 0
    return out


# tokenizers

def test_the_word_tokenizer_splits_punctuation_and_decodes_the_exact_text():
    texts = ["The Lantern is in the old town, £20-25. It's cheap (really)."] * 2 + ["Zizzi's is near the centre."]
    tok = TextTokenizer.train(texts, kind="word")
    assert tok.kind == "word" and tok.level == "word"
    shown = tok.tokens(tok.encode(texts[0]))
    assert shown[:4] == ["The", "Lantern", "is", "in"] and "," in shown and "." in shown and "'s" in shown
    assert "town," not in shown and "£20-25." not in shown
    assert tok.decode(tok.encode(texts[0])) == texts[0]
    # a word seen once is [UNK] in training, so the model learns the token it meets for unseen words
    assert UNK_ID in tok.encode("Zizzi's is near the centre.") and UNK_ID in tok.encode("Bob is in the town.")
    assert tok.decode(tok.encode("Bob is in the town.")) == "[UNK] is in the town."


def test_bpe_spells_an_unseen_name_in_pieces_and_shows_them_legibly():
    texts = [f"{name} is a quiet inn near the harbour." for name in NAMES] * 3
    tok = TextTokenizer.train(texts, kind="bpe", vocab_size=400)
    ids = tok.encode("Zanzibar House is a quiet inn.")
    assert UNK_ID not in ids and tok.decode(ids) == "Zanzibar House is a quiet inn."
    pieces = tok.tokens(ids)
    assert len(pieces) > len("Zanzibar House is a quiet inn.".split())  # the unseen name in several pieces
    assert any(p.startswith(CONTINUES) for p in pieces)  # a continuation piece is marked
    name = [p.removeprefix(CONTINUES) for p in pieces[:pieces.index("House")] if p != SPACE]
    assert "".join(name) == "Zanzibar"


def test_normalisation_options_and_the_choice_saved_with_the_tokenizer(tmp_path):
    texts = ["Caf\u00e9 Ｏｎｅ is OPEN.", "Caf\u00e9 Ｏｎｅ is OPEN."]
    lower = TextTokenizer.train(texts, kind="word", normalise="nfkc-lower")
    assert lower.tokens(lower.encode(texts[0]))[:2] == ["café", "one"]  # full-width folded by NFKC, then lower case
    plain = TextTokenizer.train(texts, kind="word", normalise="none")
    assert "Ｏｎｅ" in plain.tokens(plain.encode(texts[0]))
    lower.save(tmp_path / "tokenizer.json")
    again = TextTokenizer.load(tmp_path / "tokenizer.json", "word")
    assert again.describe() == lower.describe() == {"kind": "word", "normalise": "nfkc-lower",
                                                     "vocab_size": lower.vocab_size}
    with pytest.raises(ValueError, match="choose one of whitespace, word, bpe, char"):
        TextTokenizer.train(texts, kind="sentencepiece")


# loading and lengths

def test_paired_rows_are_split_by_source_with_every_reference_kept(pairs_csv):
    corpus = load_corpus(str(pairs_csv), source_column="mr", target_column="description")
    assert read_columns(pairs_csv) == ["mr", "description"]  # the byte-order mark is not part of the first name
    train, test = set(corpus.sources["train"]), set(corpus.sources["test"])
    assert test and not train & test and not set(corpus.sources["validation"]) & train
    refs = corpus.references("test")
    assert all(len(r) == 5 for _, r in refs)  # every description of a held-out MR
    assert sum(len(r) for _, r in refs) == len(corpus.test)
    assert corpus.columns == ("mr", "description") and len(corpus.sha256) == 64
    # each row's line in the file, for messages: line 1 is the header
    first = corpus.lines["train"][0]
    assert corpus.train[0] in pairs_csv.read_text(encoding="utf-8-sig").splitlines()[first - 1]


def test_a_quoted_field_with_a_line_break_is_one_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text\n"First line,\nsecond line."\nAnother row.\nA third.\n', encoding="utf-8")
    corpus = load_corpus(str(path))
    rows = {t: n for split in ("train", "validation", "test") for t, n in zip(corpus.split(split), corpus.lines[split])}
    assert rows == {"First line, second line.": 2, "Another row.": 4, "A third.": 5}


def test_the_model_length_comes_from_the_data_and_long_rows_are_skipped_with_a_count(runs, pairs_csv):
    assert fit_length([5] * 99 + [70]) == 5 and fit_length([3, 9]) == 9
    meta = json.loads((runs["ar"] / "meta.json").read_text())
    lengths = meta["lengths"]
    assert lengths["longest"] > 3 * lengths["seq_len"]  # the outlier does not set the length
    assert lengths["skipped_rows"] == 1 and lengths["train_rows"] + 1 == len(
        load_corpus(str(pairs_csv), "description").train)
    lines = pairs_csv.read_text(encoding="utf-8-sig").splitlines()
    assert "It goes on" in lines[lengths["longest_skipped"]["line"] - 1]
    assert meta["tokenizer"]["kind"] == "word" and meta["columns"] == ["description"]
    s2s = json.loads((runs["seq2seq"] / "meta.json").read_text())
    assert s2s["tokenizer"]["kind"] == "bpe" and s2s["lengths"]["source_len"] == checkpoint.load(
        runs["seq2seq"]).config.source_len


def test_train_prints_what_it_wrote_and_draws_a_bar_with_a_total(pairs_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--family", "ar", "--preset", "tiny", "--corpus", str(pairs_csv), "--columns",
                 "description", "--minutes", "0.02", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "/1 s" in captured.err or "/1.2 s" in captured.err or " s [" in captured.err  # seconds, with a total
    assert f"wrote the checkpoint to {out}" in captured.out and "skipped 1 training row" in captured.out
    assert "model length:" in captured.out and "tokenizer: word (nfkc)" in captured.out


# evaluation on the corpus's own held-out rows

@pytest.mark.parametrize("family", ["ar", "ardm", "sedd", "continuous"])
def test_every_family_gives_a_finite_held_out_nll_on_a_user_corpus(runs, family, capsys):
    steps = [] if family in ("ar", "ardm") else ["--steps", "4"]  # those two write one token a step
    assert main(["evaluate", "--checkpoint", str(runs[family]), "--num-samples", "2", *steps]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["nll_split"] == "test" and result["nll_num_sequences"] > 0
    for key in ("nll_bits_per_token", "nll_bits_per_word", "nll_bits_per_char"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["nll_bits_per_word"] > result["nll_bits_per_token"] > result["nll_bits_per_char"]
    assert "per word" in result["nll_units"] and result["well_formed_rule"]
    assert 0 <= result["unknown_token_rate"] < 0.5  # the share of held-out tokens read as [UNK]
    if family == "continuous":  # a sampled bound, reported with its standard error
        assert 0 < result["nll_standard_error_bits_per_token"] < result["nll_bits_per_token"]
    assert 0 <= result["well_formed_rate"] <= 1 and result["grammatical_rate"] is None
    assert "held-out NLL" in captured.err  # progress on stderr


def test_the_continuous_bound_is_finite_with_unknown_words(runs):
    from diffusion.metrics import nll_figures

    ck = checkpoint.load(runs["continuous"])
    text = "Zanzibar Xylophone is a hotel in the harbour, at £45 a night."
    assert UNK_ID in ck.tokenizer.encode(text)
    assert math.isfinite(nll_figures(ck, [text])["nll_bits_per_token"])


def test_seq2seq_scores_against_every_reference_beside_the_nearest_source_baseline(runs, pairs_csv, capsys):
    assert main(["evaluate", "--checkpoint", str(runs["seq2seq"]), "--num-samples", "2", "--steps", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["references_per_source"] == 5 and result["num_samples"] == 1  # the split's one held-out MR
    for key in ("bleu", "chrf", "baseline_bleu", "baseline_chrf"):
        assert 0 <= result[key] <= 100 + 1e-9, key
    assert result["nll_bits_per_token"] is None and "reports no likelihood" in result["nll_note"]
    # the baseline on this corpus: a neighbour's description with its values swapped in scores high
    assert result["baseline_bleu"] > 30


def test_the_nearest_source_baseline_swaps_values_and_bleu_takes_every_reference():
    sources = ["name[Oak House], type[inn], price[£45 a night]", "name[Rose Inn], type[hotel], price[£85 a night]"]
    targets = ["Oak House is an inn at £45 a night.", "Rose Inn is a hotel at £85 a night."]
    out = nearest_source_outputs(sources, targets, ["name[Tide House], type[inn], price[£60 a night]"])
    assert out == ["Tide House is an inn at £60 a night."]
    assert mr_slots("name[Tide House], type[inn]") == {"name": "Tide House", "type": "inn"}
    streams = reference_streams([["a b c d e", "x"], ["f g h i j"]])
    assert streams == [["a b c d e", "f g h i j"], ["x", None]]
    assert corpus_bleu(["a b c d e", "f g h i j"], streams) == pytest.approx(100)


def test_evaluate_refuses_another_file_and_finds_a_moved_one(runs, pairs_csv, tmp_path, capsys):
    moved = tmp_path / "moved.csv"
    moved.write_bytes(pairs_csv.read_bytes())
    assert main(["evaluate", "--checkpoint", str(runs["ar"]), "--num-samples", "1", "--corpus", str(moved)]) == 0
    capsys.readouterr()
    changed = _write_csv(tmp_path / "changed.csv", _pairs(long_row=False))
    assert main(["evaluate", "--checkpoint", str(runs["ar"]), "--num-samples", "1", "--corpus", str(changed)]) == 1
    assert "is not the file this checkpoint trained on" in capsys.readouterr().err


def test_well_formedness_is_a_stated_rule():
    assert well_formed("Oak House is an inn (by the sea).")
    for bad in ("oak House is an inn.", "Oak House is an inn", "Oak [UNK] is an inn.", "Oak is is an inn.",
                "Oak House (an inn.", ""):
        assert not well_formed(bad), bad
    assert well_formed_rate(["A b.", "a b"]) == 0.5


# files of sources in, outputs out

def test_a_file_of_sources_in_and_a_file_of_outputs_out(runs, tmp_path, capsys):
    sources = tmp_path / "sources.txt"
    sources.write_text("name[Zanzibar House], type[inn], area[the harbour]\n\nname[Oak House], type[inn]\n",
                       encoding="utf-8")
    out = tmp_path / "out.txt"
    assert main(["sample", "--checkpoint", str(runs["seq2seq"]), "--source-file", str(sources), "--output", str(out),
                 "--steps", "3", "--num-samples", "2"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2  # one output a source; the blank line skipped
    assert f"wrote 2 lines to {out}" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(runs["ar"]), "--source-file", str(sources)]) == 1
    assert "--source-file applies to the seq2seq family only" in capsys.readouterr().err


# the shipped example

def test_the_shipped_example_corpus_is_paired_free_form_english():
    corpus = load_corpus(str(STAYS), source_column="mr", target_column="description")
    assert corpus.rows >= 300 and len(set(corpus.sources["train"])) >= 100
    assert not set(corpus.sources["test"]) & set(corpus.sources["train"])
    text = " ".join(corpus.train)
    assert all(ch in text for ch in ",.'£()")  # punctuation, prices
    test_names = {mr_slots(s)["name"] for s in corpus.sources["test"]}
    assert not any(name in s for name in test_names for s in corpus.sources["train"])  # unseen names


def test_the_continuous_family_trains_on_unknown_words_with_a_finite_loss(tmp_path):
    from diffusion.config import preset
    from diffusion.training import train

    path = tmp_path / "lines.txt"  # every line has a word of its own, seen once: [UNK] in training
    path.write_text("".join(f"The inn near {'ab' * (i % 4 + 1)}{chr(97 + i % 26)}z is quiet.\n" for i in range(40)),
                    encoding="utf-8")
    corpus = load_corpus(str(path))
    model_config, train_config = preset("tiny", family="continuous")
    logs = list(train(model_config, replace(train_config, steps=3, log_every=1), corpus, tmp_path / "run"))
    ck = checkpoint.load(tmp_path / "run")
    assert ck.config.round_unknown and (ck.tokenizer.batch(list(corpus.train), ck.config.seq_len) == UNK_ID).any()
    assert all(math.isfinite(log.loss) for log in logs)  # the model rounds to [UNK] like any word
    assert ck.model.round_logits(torch.zeros(1, 1, ck.config.embed_dim))[0, 0, UNK_ID] > -math.inf


def test_header_names_are_read_as_a_person_reads_them(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text , label\nOne row.,a\nTwo rows.,b\nThree rows.,c\n", encoding="utf-8")
    assert read_columns(path) == ["text", "label"]
    corpus = load_corpus(str(path), "text")
    assert sorted(corpus.train + corpus.validation + corpus.test) == ["One row.", "Three rows.", "Two rows."]


def test_evaluate_scores_another_split_when_asked(runs, capsys):
    assert main(["evaluate", "--checkpoint", str(runs["ar"]), "--num-samples", "1", "--split", "train"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["nll_split"] == "train" and result["nll_num_sequences"] > 100


def test_bpe_text_leaves_out_a_character_cut_in_the_middle():
    tok = TextTokenizer.train(["A café."] * 3, kind="bpe", vocab_size=300)
    first_byte = tok.tok.token_to_id("Ã")  # é is two bytes, C3 A9; byte-level BPE writes C3 as Ã
    assert tok.decode([tok.encode("A")[0], first_byte]) == "A"
    assert "\ufffd" not in tok.decode([first_byte, *tok.encode(" café.")])
