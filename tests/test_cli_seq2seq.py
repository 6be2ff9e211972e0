"""The CLI on the seq2seq family: pairs from the built-in corpus or a CSV, --source with its candidates, evaluate's keys,
and bad input."""

import json

import pytest

from diffusion import checkpoint
from diffusion.__main__ import main
from diffusion.corpus import MAX_MR_WORDS


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_builtin_pairs_fit_any_mr_and_sentence(tiny_seq2seq):
    ck = checkpoint.load(tiny_seq2seq)
    assert ck.config.family == "seq2seq" and ck.config.source_len == MAX_MR_WORDS
    assert ck.config.seq_len == MAX_MR_WORDS + 1 + 40
    assert ck.tokenizer.encode("[")[0] == ck.tokenizer.unk_id  # brackets never reach the model


def test_sample_one_source_with_candidates_and_mbr(tiny_seq2seq, capsys):
    args = ["sample", "--checkpoint", str(tiny_seq2seq), "--source", "food [thai] name [zizzi]", "--steps", "10",
            "--num-samples", "3", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["source"] == "name [zizzi] food [thai]" and len(out["candidates"]) == 3
    assert out["output"] == out["candidates"][out["mbr_pick"]]
    assert main(args) == 0  # same seed, same candidates
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == out
    assert main(args[:-1]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("MBR pick: ")
    assert sum(line.startswith("*") for line in lines[:3]) == 1


def test_by_length_the_target_length_is_read_off_the_pairs_and_drawn_given_the_source(tmp_path, capsys):
    out = tmp_path / "by-length"
    assert main(["train", "--family", "seq2seq", "--preset", "tiny", "--steps", "5",
                 "--out", str(out)]) == 0
    ck = checkpoint.load(out)
    S, D = ck.config.source_len, ck.config.seq_len - ck.config.source_len - 1
    table = ck.meta["process"]["length_table"]
    assert len(table) == S + 1 and all(len(row) == D for row in table)
    assert ck.process.length_table is not None and ck.process.nll_method is None
    mean = [sum((L + 1) * p for L, p in enumerate(row)) for row in table]  # E[L | n]
    assert mean[16] > mean[6] + 5  # more slots, longer sentences: the length is drawn given the source
    args = ["sample", "--checkpoint", str(out), "--source", "name [zizzi] food [thai]", "--steps", "5",
            "--num-samples", "4", "--json"]
    assert main(args) == 0
    candidates = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["candidates"]
    assert all(c and "[PAD]" not in c for c in candidates)


def test_evaluate_reports_bleu_slots_and_mbr(tiny_seq2seq, capsys):
    args = ["evaluate", "--checkpoint", str(tiny_seq2seq), "--num-samples", "3", "--steps", "5", "--record"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("bleu", "slot_accuracy", "self_bleu", "grammatical_rate", "distinct_2", "mean_length",
                "corpus_mean_length"):
        assert isinstance(result[key], float), key
    assert result["corpus_mean_length"] > 5  # the test references' words a sentence
    assert result["mbr_candidates"] == 5 and result["num_samples"] == 3 and 0 <= result["slot_accuracy"] <= 1
    assert result["grammatical_rate"] + sum(result["mistakes"].values()) == pytest.approx(1)
    recorded = json.loads((tiny_seq2seq / "meta.json").read_text())["evaluation"]
    assert any("mbr_candidates=5" in key for key in recorded)


def test_train_on_a_source_target_csv(tmp_path, capsys):
    rows = ["source,target"] + [f"word{i} word{i + 1},out{i} out{i + 1} ." for i in range(30)]
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--family", "seq2seq", "--preset", "tiny", "--corpus", str(path), "--steps", "3",
                 "--out", str(out), "--tokenizer", "whitespace"]) == 0
    ck = checkpoint.load(out)
    assert ck.config.source_len == 2 and ck.config.seq_len == 2 + 1 + 3
    assert ck.meta["tokenizer"]["kind"] == "whitespace" and ck.meta["columns"] == ["source", "target"]
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(out), "--source", "word3 word4", "--steps", "3", "--num-samples", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    # a user corpus's source is read as the model reads it, with a note: unseen words as [UNK], a long one cut
    assert main(["sample", "--checkpoint", str(out), "--source", "word3 unheard", "--steps", "3"]) == 0
    assert "read as [UNK] (not in the training vocabulary): unheard" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(out), "--source", "word1 word2 word3", "--steps", "3"]) == 0
    assert "the source has 3 tokens; the model reads its first 2" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    ([], "needs one of --source"),
    (["--source", "name [zizzi] colour [red]"], "unknown slot 'colour'; accepted slots: name, eatType"),
    (["--source", "name [zizzi] food [martian]"], "unknown food value 'martian'; accepted: italian"),
    (["--source", "  "], "the source is empty"),
    (["--source", "name [zizzi]", "--temperature", "0.5"], "--temperature does not apply to the seq2seq family"),
])
def test_sample_bad_input(tiny_seq2seq, capsys, extra, message):
    assert main(["sample", "--checkpoint", str(tiny_seq2seq), "--steps", "3", *extra]) == 1
    assert message in _error(capsys)


def test_seq2seq_options_and_corpora_are_checked(tmp_path, capsys):
    txt = tmp_path / "lines.txt"
    txt.write_text("a b c\nd e f\n")
    assert main(["train", "--family", "seq2seq", "--corpus", str(txt), "--steps", "1", "--out", str(tmp_path / "x")]) == 1
    assert "has no sources" in _error(capsys)
    cont = tmp_path / "cont"
    assert main(["train", "--family", "continuous", "--preset", "tiny", "--steps", "2", "--out", str(cont)]) == 0
    assert main(["sample", "--checkpoint", str(cont), "--steps", "2", "--source", "name [zizzi]"]) == 1
    assert "--source applies to the seq2seq family only" in _error(capsys)
