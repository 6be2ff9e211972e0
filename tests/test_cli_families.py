"""The CLI on the token families (ar, ardm; sedd's remasking): train, calibrate, sample, evaluate, char level, and bad
input."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from diffusion import checkpoint
from diffusion.__main__ import main


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    out = {}
    for family in ("ar", "ardm"):
        out[family] = root / family
        assert main(["train", "--family", family, "--preset", "tiny", "--steps", "12", "--out", str(out[family])]) == 0
    return out


def test_training_says_when_it_calibrates(tmp_path):
    """The training generator's last logs: ARDM announces its calibration after the steps; AR has none."""
    from diffusion.config import preset
    from diffusion.corpus import load_corpus
    from diffusion.training import train

    corpus = load_corpus("builtin")
    for family, calibrates in (("ardm", True), ("ar", False)):
        model_config, train_config = preset("tiny", family=family)
        logs = list(train(model_config, replace(train_config, steps=2, log_every=1), corpus, tmp_path / family))
        # a log at steps 1 and 2, the calibration's notice (ardm), then the end
        assert [log.phase for log in logs] == ["training"] * 2 + ["calibrating"] * calibrates + ["training"]
        assert logs[-1].done and logs[-1].step == 2 and not any(log.done for log in logs[:-1])


def test_ardm_calibrates_its_plan_after_training(runs):
    ck = checkpoint.load(runs["ardm"])
    comps = ck.meta["process"]["loss_components"]
    assert len(comps) == ck.config.seq_len and ck.process.loss_components == pytest.approx(comps)
    # as many held-out sentences as the run's settings ask (the tiny preset measures 128, the others 512)
    assert ck.meta["calibration"]["sequences"] == ck.meta["train_config"]["calibration_sequences"] == 128
    assert ck.meta["calibration"]["tokens_per_sequence"] > 0
    assert "process" not in checkpoint.load(runs["ar"]).meta  # nothing to measure for the reference


@pytest.mark.parametrize("family", ["ar", "ardm"])
def test_sample_defaults_to_one_step_per_position(runs, family, capsys):
    assert main(["sample", "--checkpoint", str(runs[family]), "--num-samples", "2", "--seed", "1", "--json"]) == 0
    out = _last_json(capsys)
    assert out["family"] == family and out["steps"] == checkpoint.load(runs[family]).config.seq_len
    assert len(out["samples"]) == 2 and "[MASK]" not in " ".join(out["samples"])


def test_ardm_evaluate_reports_nll_by_budget(runs, capsys):
    assert main(["evaluate", "--checkpoint", str(runs["ardm"]), "--num-samples", "3", "--steps", "5"]) == 0
    result = _last_json(capsys)
    D = checkpoint.load(runs["ardm"]).config.seq_len
    table = result["nll_by_budget"]
    assert set(map(int, table)) >= {1, D // 4, D} and result["steps"] == 5
    assert all(v > 0 for v in table.values())


def test_ar_evaluate_gives_an_exact_nll_above_the_entropy(runs, capsys):
    assert main(["evaluate", "--checkpoint", str(runs["ar"]), "--num-samples", "3",
                 "--temperature", "0.5"]) == 0
    result = _last_json(capsys)
    assert result["family"] == "ar" and result["temperature"] == 0.5
    assert result["nll_bits_per_token"] > result["entropy_bits_per_token"]


def test_evaluate_measures_the_nll_on_the_split_asked(runs):
    """metrics.evaluate(nll_split="train") bounds the NLL on training sentences (the gap to test is what the model
    memorised); the command line always measures on the test split."""
    from diffusion.corpus import load_corpus
    from diffusion.evaluate import evaluate
    from diffusion.metrics import nll_bits_per_token

    ck = checkpoint.load(runs["ar"])
    seen = {}
    for split in ("train", "test"):
        result = evaluate(ck, 2, nll_sequences=16, nll_split=split)
        assert result["nll_split"] == split and result["nll_num_sequences"] == 16
        seen[split] = result["nll_bits_per_token"]
        exact = nll_bits_per_token(ck, list(load_corpus("builtin").split(split)[:16]))  # ar's NLL is exact
        assert seen[split] == pytest.approx(exact, rel=1e-6)
    assert seen["train"] != seen["test"]


def test_ardm_confident_order_is_recorded_beside_the_random_one(runs, capsys):
    ardm = str(runs["ardm"])
    for order in ("random", "confident"):
        assert main(["evaluate", "--checkpoint", ardm, "--num-samples", "4", "--order", order,
                     "--record"]) == 0
        result = _last_json(capsys)
        assert result["order"] == order and result["mean_length"] > 0 and result["corpus_mean_length"] > 5
    keys = set(checkpoint.load(ardm).meta["evaluation"])
    D = checkpoint.load(ardm).config.seq_len
    assert {f"steps={D},temperature=1.0", f"steps={D},temperature=1.0,order=confident"} <= keys


def test_sedd_remasking_is_recorded_beside_the_plain_chain(tiny_sedd, tmp_path, capsys):
    import shutil

    sedd = shutil.copytree(tiny_sedd, tmp_path / "sedd")  # the session's model keeps its own recorded figures
    assert main(["evaluate", "--checkpoint", str(sedd), "--num-samples", "4", "--steps", "6",
                 "--remask", "0.1", "--record"]) == 0
    result = _last_json(capsys)
    assert result["remask"] == 0.1 and result["sampler"] == "tweedie" and result["grammatical_rate"] is not None
    assert "steps=6,sampler=tweedie,remask=0.1" in checkpoint.load(sedd).meta["evaluation"]
    assert main(["sample", "--checkpoint", str(sedd), "--num-samples", "2", "--steps", "6", "--remask", "0.1", "--json"]) == 0
    assert len(_last_json(capsys)["samples"]) == 2
    assert main(["sample", "--checkpoint", str(sedd), "--remask", "0.1", "--sampler", "euler"]) == 1
    assert "use the tweedie sampler or set remask to 0" in _error(capsys)
    with pytest.raises(SystemExit):  # out of range: the parser refuses it before the checkpoint loads
        main(["sample", "--checkpoint", str(sedd), "--remask", "2"])
    assert "--remask: expected a number from 0 to 1, got 2" in _error(capsys)


def test_character_level_ardm(tmp_path, capsys):
    """Characters as tokens (the package's level="char"; the command line tokenises into words)."""
    from dataclasses import replace

    from diffusion.config import preset
    from diffusion.corpus import load_corpus
    from diffusion.training import train

    corpus = tmp_path / "c.txt"
    corpus.write_text("a cat sat\na dog ran\n" * 10, encoding="utf-8")
    out = tmp_path / "chars"
    model_config, train_config = preset("tiny", family="ardm", level="char")
    list(train(model_config, replace(train_config, steps=5), load_corpus(str(corpus)), out))
    ck = checkpoint.load(out)
    assert ck.config.level == "char" and ck.config.seq_len == len("a cat sat")
    assert main(["sample", "--checkpoint", str(out), "--num-samples", "2", "--steps", "3", "--json"]) == 0
    assert all(len(s) <= 9 for s in _last_json(capsys)["samples"])


def test_bad_input_for_the_token_families(runs, capsys):
    ardm = str(runs["ardm"])
    D = checkpoint.load(ardm).config.seq_len
    assert main(["sample", "--checkpoint", ardm, "--steps", str(D + 1)]) == 1
    assert f"between 1 and the length {D}" in _error(capsys)
    assert main(["sample", "--checkpoint", str(runs["ar"]), "--steps", "3"]) == 1
    assert "writes one token per step" in _error(capsys)
    assert main(["sample", "--checkpoint", ardm, "--sampler", "ddim"]) == 1
    assert "--sampler does not apply to the ardm family (its sampler options: --temperature, --order)" in _error(capsys)
    assert main(["sample", "--checkpoint", str(runs["ar"]), "--order", "confident"]) == 1
    assert "--order does not apply to the ar family (its sampler options: --temperature)" in _error(capsys)
    assert main(["sample", "--checkpoint", ardm, "--remask", "0.02"]) == 1
    assert "--remask does not apply to the ardm family" in _error(capsys)
    assert main(["train", "--family", "ardm", "--preset", "tiny", "--steps", "2", "--out", str(runs["ar"])]) == 1
    assert "holds a 'ar' checkpoint" in _error(capsys)
    assert main(["train", "--family", "ardm", "--graph", "uniform", "--out", "x", "--steps", "1"]) == 1
    assert "graph applies to sedd only; this model is ardm" in _error(capsys)
