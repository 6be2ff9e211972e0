"""The CLI and checkpoints, end to end on a tiny model: train, resume, sample, evaluate, and bad input."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion import checkpoint
from diffusion.__main__ import main
from diffusion.config import preset
from diffusion.corpus.mistakes import KINDS
from diffusion.continuous import ContinuousModel
from diffusion.families import get_family
from diffusion.projection import load_projection, save_projection
from diffusion.training import Optimizers

from conftest import fixture_umap_stand_in

TINY = ["--family", "continuous", "--preset", "tiny"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "continuous"
    with fixture_umap_stand_in():
        assert main(["train", *TINY, "--steps", "15", "--out", str(out)]) == 0
    return out


def test_checkpoint_folder_holds_the_contract(trained):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "meta.json"):
        assert (trained / name).is_file(), name
    meta = json.loads((trained / "meta.json").read_text())
    assert meta["command"].startswith("python -m diffusion train") and meta["steps"] == 15
    assert meta["corpus"] == "builtin" and meta["seconds"] > 0 and "threads" in meta["machine"]
    assert (trained / "logs").is_dir()  # TensorBoard events
    assert not [p for p in trained.iterdir() if p.name.startswith(".")], "temporary files were left behind"


def test_hub_mixin_round_trip(trained):
    """save_pretrained / from_pretrained work as huggingface_hub users expect, on a local folder."""
    model = ContinuousModel.from_pretrained(str(trained))
    ck = checkpoint.load(trained)
    for (k, a), (_, b) in zip(model.state_dict().items(), ck.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_resume_continues_from_the_checkpoint(trained, tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "10", "--out", str(run)]) == 0
    first = checkpoint.load(run).model.state_dict()
    assert main(["train", *TINY, "--steps", "20", "--out", str(run)]) == 0
    meta = json.loads((run / "meta.json").read_text())
    assert meta["steps"] == 20
    again = checkpoint.load(run).model.state_dict()
    assert any(not torch.equal(first[k], again[k]) for k in first)


def test_muon_trains_the_backbone_matrices_and_resumes(tmp_path, capsys):
    """The small preset's Muon: Muon owns exactly the backbone's Linear weights, AdamW every other parameter; its
    state is saved beside AdamW's and a resumed run picks both up; loading it into the other optimiser is a clear
    error."""
    model_config, train_config = preset("tiny", family="ardm", vocab_size=50, seq_len=12)
    model, _ = get_family("ardm").build(model_config)
    opt = Optimizers(model, replace(train_config, optimizer="muon"))
    muon = {id(p) for g in opt.parts["muon"].param_groups for p in g["params"]}
    adamw = {id(p) for g in opt.parts["optimizer"].param_groups for p in g["params"]}
    linear = {id(m.weight) for m in model.backbone.modules() if isinstance(m, torch.nn.Linear)}
    assert muon == linear and len(muon) == 4 * model_config.n_layers
    assert not muon & adamw and muon | adamw == {id(p) for p in model.parameters()}

    run = tmp_path / "run"
    args = ["train", "--family", "ardm", "--preset", "small", "--batch-size", "8", "--out", str(run)]
    assert main([*args, "--steps", "6"]) == 0
    tensors, js = checkpoint.load_training_state(run)
    assert any(k.startswith("muon.") for k in tensors) and any(k.startswith("optimizer.") for k in tensors)
    assert json.loads((run / "meta.json").read_text())["train_config"]["optimizer"] == "muon"
    assert main([*args, "--steps", "9"]) == 0
    assert json.loads((run / "meta.json").read_text())["steps"] == 9
    tensors, js = checkpoint.load_training_state(run)
    small = checkpoint.load(run).model
    with pytest.raises(ValueError, match="trained with the muon optimiser; resume it with the --preset"):
        Optimizers(small, replace(train_config, optimizer="adamw")).load(tensors, js)  # AdamW cannot take Muon's


def test_sample_json_is_deterministic(trained, capsys):
    args = ["sample", "--checkpoint", str(trained), "--num", "3", "--steps", "10", "--seed", "4", "--json"]
    assert main(args) == 0
    a = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(args) == 0
    b = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert a == b and len(a["samples"]) == 3 and a["steps"] == 10


def test_evaluate_prints_the_keys_on_its_last_line(trained, capsys):
    assert main(["evaluate", "--checkpoint", str(trained), "--num-samples", "4", "--steps", "10"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("family", "steps", "grammatical_rate", "distinct_2", "nll_bits_per_token", "entropy_bits_per_token",
                "sample_seconds_per_sequence"):
        assert key in result, key
    assert result["family"] == "continuous" and 0 <= result["grammatical_rate"] <= 1
    assert result["nll_bits_per_token"] > result["entropy_bits_per_token"] > 1
    # The mistakes the grammar found, by kind: with the grammatical rate they account for every sample.
    assert set(result["mistakes"]) <= set(KINDS)
    assert result["grammatical_rate"] + sum(result["mistakes"].values()) == pytest.approx(1)


@pytest.mark.real_umap
def test_projection_is_cached_without_pickle(trained, tmp_path):
    emb = torch.randn(30, 16)
    maps = save_projection(tmp_path, emb, seed=0)
    loaded = load_projection(tmp_path)
    assert set(loaded) == {"umap", "pca"} and loaded["umap"].shape == (30, 2)
    assert np.allclose(loaded["pca"], maps["pca"])
    assert load_projection(tmp_path / "nowhere") is None


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


@pytest.mark.parametrize("args, message", [
    (["train", "--family", "bogus", "--out", "x", "--steps", "1"], "invalid choice: 'bogus'"),
    (["train", *TINY, "--out", "x", "--steps", "0"], "expected a whole number from 1 to 1,000,000,000, got 0"),
    (["sample", "--checkpoint", "x", "--steps", "-5"], "expected a whole number from 1 to 10,000, got -5"),
    (["train", *TINY, "--out", "x", "--parameterisation", "softmax", "--steps", "1"], "invalid choice: 'softmax'"),
])
def test_argument_errors_exit_non_zero(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    assert message in _error(capsys)


def test_columns_name_as_many_columns_as_the_family_reads(tmp_path, capsys):
    """--columns: one name for a text family, SOURCE,TARGET for seq2seq; otherwise one line saying which."""
    assert main(["train", *TINY, "--out", str(tmp_path / "a"), "--steps", "1", "--columns", "a,b"]) == 1
    assert _error(capsys) == "error: --columns takes one column name for the continuous family, got 'a,b'"
    assert main(["train", "--family", "seq2seq", "--preset", "tiny", "--out", str(tmp_path / "b"), "--steps", "1",
                 "--columns", "mr"]) == 1
    assert "SOURCE,TARGET (two names)" in _error(capsys)
    csv = tmp_path / "pairs.csv"
    csv.write_text("mr,ref\nname [zizzi],zizzi is a pub .\nname [loch],loch is a cafe .\n", encoding="utf-8")
    assert main(["train", "--family", "seq2seq", "--preset", "tiny", "--corpus", str(csv), "--out",
                 str(tmp_path / "c"), "--steps", "2", "--columns", "mr,ref"]) == 0
    assert checkpoint.load(tmp_path / "c").config.family == "seq2seq"


def test_the_module_runs_as_a_command(trained):
    """`python -m diffusion` in a new interpreter (the other tests call the same `main` in-process): it samples, and
    bad input is one line on stderr and a non-zero exit."""
    from conftest import cli_subprocess

    ok = cli_subprocess("sample", "--checkpoint", str(trained), "--num-samples", "2", "--steps", "3", "--json")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert len(json.loads(ok.stdout.splitlines()[-1])["samples"]) == 2
    bad = cli_subprocess("sample", "--checkpoint", str(trained), "--steps", "0")
    assert bad.returncode == 2 and "expected a whole number from 1 to 10,000, got 0" in bad.stderr.strip().splitlines()[-1]
    missing = cli_subprocess("sample", "--checkpoint", str(trained.parent / "nowhere"))
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    assert missing.stderr.startswith("error: ")


def test_bad_corpora_fail_cleanly(tmp_path, capsys):
    out = tmp_path / "never"
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert main(["train", *TINY, "--corpus", str(empty), "--out", str(out), "--steps", "1"]) == 1
    assert "is empty" in _error(capsys)
    binary = tmp_path / "bad.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert main(["train", *TINY, "--corpus", str(binary), "--out", str(out), "--steps", "1"]) == 1
    assert "not UTF-8" in _error(capsys)
    table = tmp_path / "t.csv"
    table.write_text("a,b\nx,y\n", encoding="utf-8")
    assert main(["train", *TINY, "--corpus", str(table), "--out", str(out), "--steps", "1"]) == 1
    assert "no column 'text'; its columns are 'a', 'b'" in _error(capsys)
    long = tmp_path / "long.txt"
    long.write_text("one two three four five six\n" * 5, encoding="utf-8")
    assert main(["train", *TINY, "--corpus", str(long), "--out", str(out), "--steps", "1", "--seq-len", "4"]) == 1
    error = _error(capsys)  # every row skipped as too long: the message names a real row and its length
    assert "no training row" in error and "skipped 3 training rows longer than the model's length" in error
    assert re.search(r"line [1-5], 6 tokens", error)
    assert main(["train", *TINY, "--out", str(out)]) == 1
    assert "give a budget" in _error(capsys)
    assert not out.exists(), "a failed run must leave nothing half-written"


def test_bad_checkpoints_fail_cleanly(trained, tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(tmp_path / "missing")]) == 1
    assert "is not a folder" in _error(capsys)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "meta.json"):
        (broken / name).write_bytes((trained / name).read_bytes())
    assert main(["sample", "--checkpoint", str(broken)]) == 1
    assert "lacks model.safetensors" in _error(capsys)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    assert main(["sample", "--checkpoint", str(broken)]) == 1
    assert "malformed model.safetensors" in _error(capsys)
    (broken / "model.safetensors").write_bytes((trained / "model.safetensors").read_bytes())
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    assert main(["sample", "--checkpoint", str(broken)]) == 1
    assert "config.json is not valid JSON" in _error(capsys)
    (broken / "config.json").write_text(json.dumps({"family": "continuous", "continuous": {"schedule": "quadratic"}}),
                                        encoding="utf-8")
    assert main(["sample", "--checkpoint", str(broken)]) == 1
    assert "unknown schedule 'quadratic'" in _error(capsys)
    # the three parts: a field in the wrong one, or another family's, is named with what is accepted
    (broken / "config.json").write_text(json.dumps({"family": "continuous", "schedule": "sqrt"}), encoding="utf-8")
    assert main(["sample", "--checkpoint", str(broken)]) == 1
    assert "unknown model config field(s) schedule; accepted: backbone, continuous, family" in _error(capsys)
    (broken / "config.json").write_text(json.dumps({"family": "continuous", "continuous": {"graph": "uniform"}}),
                                        encoding="utf-8")
    assert main(["sample", "--checkpoint", str(broken)]) == 1
    assert "unknown continuous field(s) graph; accepted: embed_dim" in _error(capsys)
    assert main(["sample", "--checkpoint", str(trained), "--steps", "5000"]) == 1
    assert "at most the model's 200 training timesteps" in _error(capsys)


def test_evaluate_can_record_its_figures_in_meta(trained, tmp_path, capsys):
    run = tmp_path / "copy"
    run.mkdir()
    for p in trained.iterdir():
        if p.is_file():
            (run / p.name).write_bytes(p.read_bytes())
    assert main(["evaluate", "--checkpoint", str(run), "--num-samples", "2", "--steps", "5",
                 "--record"]) == 0
    meta = json.loads((run / "meta.json").read_text())
    entry = meta["evaluation"]["steps=5,sampler=ddpm,clamp=True"]
    assert entry["num_samples"] == 2 and "grammatical_rate" in entry and meta["command"].startswith("python -m")
    assert entry["noise_scale"] == 1.0
    assert main(["evaluate", "--checkpoint", str(run), "--num-samples", "2", "--steps", "5",
                 "--noise-scale", "0.7", "--record"]) == 0
    meta = json.loads((run / "meta.json").read_text())
    assert meta["evaluation"]["steps=5,sampler=ddpm,clamp=True,noise_scale=0.7"]["noise_scale"] == 0.7
    assert "steps=5,sampler=ddpm,clamp=True" in meta["evaluation"]  # the default run is kept beside it


def test_bad_noise_scale_fails_cleanly(trained, capsys):
    with pytest.raises(SystemExit) as e:  # out of range: refused by the parser, before the checkpoint loads
        main(["sample", "--checkpoint", str(trained), "--num-samples", "1", "--steps", "5", "--noise-scale", "1.5"])
    assert e.value.code == 2 and "--noise-scale: expected a number from 0 to 1, got 1.5" in _error(capsys)
    assert main(["sample", "--checkpoint", str(trained), "--num-samples", "1", "--steps", "5", "--noise-scale", "0.5",
                 "--sampler", "ddim"]) == 1
    assert "noise_scale applies to the ddpm sampler only" in capsys.readouterr().err


def test_an_output_that_cannot_hold_the_checkpoint_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """A full disk, a read-only folder, a file in the way: one `error:` line before any step is spent."""
    import shutil
    import tempfile

    steps: list[int] = []
    real_loss = get_family("continuous").process_cls.loss
    monkeypatch.setattr(get_family("continuous").process_cls, "loss",
                        lambda self, *a, **k: steps.append(1) or real_loss(self, *a, **k))
    args = ["train", *TINY, "--steps", "2", "--out"]
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    assert main([*args, str(tmp_path / "full")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has 1 MB of free disk; saving this model needs about" in err[0]
    monkeypatch.undo()
    def read_only(**kwargs):
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    assert main([*args, str(tmp_path / "read-only")]) == 1
    assert "cannot write into" in (line := _error(capsys)) and "(Read-only file system)" in line
    monkeypatch.undo()
    (tmp_path / "a-file").write_text("not a folder")
    assert main([*args, str(tmp_path / "a-file")]) == 1
    assert "is a file; give a folder" in _error(capsys)
    assert not steps  # no training step ran in any of them


def test_a_write_failure_mid_run_is_one_line(tmp_path, capsys, monkeypatch):
    """The disk fills during the final save: `error:` naming the file and the reason, exit 1, no traceback."""
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "model.safetensors"))

    monkeypatch.setattr(checkpoint, "save_file", full)
    assert main(["train", *TINY, "--steps", "2", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: cannot read or write {tmp_path / 'out' / 'model.safetensors'}: No space left on device"
    assert "Traceback" not in "\n".join(err)


# ---- evaluate --seeds: the draw each tab makes with seed s, counted seed by seed -----------------------------------

def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _use(monkeypatch, name: str, path: Path) -> None:
    """Point the app's checkpoint `name` at `path` (the tabs load it once: the cache is cleared)."""
    from ui import common

    monkeypatch.setenv(common.env_name(name), str(path))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    common.load.cache_clear()


def _final(outputs) -> object:
    """The Run a tab's handler kept: the second output of its last update."""
    return list(outputs)[-1][1]


def test_evaluate_over_seeds_records_counts_apart_and_draws_what_denoise_draws(trained, tmp_path, capsys,
                                                                                monkeypatch):
    from diffusion.corpus import is_grammatical
    from ui import denoise

    run = _copy(trained, tmp_path / "copy")
    before = json.loads((run / "meta.json").read_text()).get("evaluation")
    assert main(["evaluate", "--checkpoint", str(run), "--seeds", "3", "--num-samples", "2", "--steps", "10",
                 "--noise-scale", "0.7", "--record"]) == 0
    result = _last_json(capsys)
    assert [r["seed"] for r in result["per_seed"]] == [0, 1, 2] and len(result["samples"]) == 3
    for row, texts in zip(result["per_seed"], result["samples"]):
        assert len(texts) == 2 and row["grammatical"] == sum(map(is_grammatical, texts))
    assert result["all_grammatical"] == sum(r["grammatical"] == 2 for r in result["per_seed"])
    assert result["grammatical_samples"] == sum(r["grammatical"] for r in result["per_seed"])
    meta = json.loads((run / "meta.json").read_text())
    entry = meta["by_seed"]["steps=10,sampler=ddpm,clamp=True,noise_scale=0.7,num_samples=2,seeds=3"]
    assert entry["per_seed"] == result["per_seed"] and "samples" not in entry and entry["noise_scale"] == 0.7
    assert meta.get("evaluation") == before  # the plain figures are left as they were
    _use(monkeypatch, "continuous", run)
    for seed in range(3):
        tab = _final(denoise.denoise(seed, 10, "ddpm", True, 1.0, 2, noise_scale=0.7))
        assert tab.samples[0] == result["samples"][seed], seed


def test_evaluate_over_seeds_draws_both_columns_of_the_clamping_tab(trained, capsys, monkeypatch):
    from ui import clamp

    columns = []
    for clamp_from in ("1", "0"):  # with clamping, and without: the tab's two columns
        assert main(["evaluate", "--checkpoint", str(trained), "--seeds", "2", "--steps", "10",
                     "--clamp-from", clamp_from]) == 0
        columns.append(_last_json(capsys)["samples"])
    _use(monkeypatch, "continuous", trained)
    for seed in range(2):
        tab = list(clamp.clamp_compare(seed, 10, "ddpm", 1.0, None, None))[-1][3]
        assert tab.samples == [columns[0][seed], columns[1][seed]], seed


def test_evaluate_over_seeds_draws_what_the_token_tabs_draw(tiny_sedd, tiny_ardm, capsys, monkeypatch):
    from ui import discrete, order

    assert main(["evaluate", "--checkpoint", str(tiny_sedd), "--seeds", "2", "--num-samples", "2", "--steps", "6",
                 "--sampler", "any-order", "--order", "confident"]) == 0
    sedd = _last_json(capsys)
    assert sedd["order"] == "confident" and sedd["sampler"] == "any-order"
    assert main(["evaluate", "--checkpoint", str(tiny_ardm), "--seeds", "2", "--steps", "5", "--order",
                 "confident"]) == 0
    ardm = _last_json(capsys)
    _use(monkeypatch, "sedd-absorb", tiny_sedd)
    _use(monkeypatch, "ardm", tiny_ardm)
    for seed in range(2):
        tab = _final(discrete.sedd_denoise("absorb", seed, 6, "any-order", 2, order="confident"))
        assert tab.samples[0] == sedd["samples"][seed]
        tab = _final(order.order_agnostic(seed, 5, 1.0, 1, order="confident"))
        assert tab.samples[0] == ardm["samples"][seed]


def test_evaluate_over_seeds_scores_the_seq2seq_tabs_mbr_pick(tiny_seq2seq, tmp_path, capsys, monkeypatch):
    from diffusion.corpus import MR_EXAMPLE, is_grammatical
    from diffusion.metrics import bleu_matrix, mbr_pick
    from ui import seq2seq

    run = _copy(tiny_seq2seq, tmp_path / "copy")
    assert main(["evaluate", "--checkpoint", str(run), "--seeds", "2", "--num-samples", "3", "--steps", "10",
                 "--record"]) == 0
    result = _last_json(capsys)
    assert result["source"] == MR_EXAMPLE and result["mbr_candidates"] == 3  # the tab's own MR
    for row, texts in zip(result["per_seed"], result["samples"]):
        assert row["pick_grammatical"] == is_grammatical(texts[mbr_pick(bleu_matrix(texts))])
    assert result["pick_grammatical"] == sum(r["pick_grammatical"] for r in result["per_seed"])
    meta = json.loads((run / "meta.json").read_text())
    assert f"mbr_candidates=3,num_samples=3,seeds=2,source={MR_EXAMPLE}" in next(iter(meta["by_seed"]))
    _use(monkeypatch, "seq2seq", run)
    for seed in range(2):
        tab = _final(seq2seq.seq2seq_run(MR_EXAMPLE, seed, 10, 3))
        assert tab.result["candidates"] == result["samples"][seed]


def test_evaluate_over_seeds_counts_controlled_samples_on_target(tiny_with_classifier, capsys, monkeypatch):
    from diffusion.metrics import realises
    from diffusion.corpus import is_grammatical
    from ui import control

    assert main(["evaluate", "--checkpoint", str(tiny_with_classifier), "--seeds", "2", "--num-samples", "2",
                 "--steps", "10", "--control", "food=italian"]) == 0
    result = _last_json(capsys)
    assert result["control"]["targets"] == {"food": "italian"}
    for row, texts in zip(result["per_seed"], result["samples"]):
        assert row["on_target"] == sum(is_grammatical(t) and realises(t, {"food": "italian"}) for t in texts)
    assert result["all_on_target"] == sum(r["on_target"] == 2 for r in result["per_seed"])
    _use(monkeypatch, "continuous", tiny_with_classifier)
    for seed in range(2):
        tab = _final(control.control_run("Classifier guidance", "", 14, "food", "italian", 0.01, 0.1, 3, seed, 10,
                                         2))
        assert tab.samples[0] == result["samples"][seed]


def test_evaluate_over_seeds_refuses_what_it_cannot_score(trained, capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", str(trained), "--seeds", "0"])
    assert "expected a whole number from 1" in _error(capsys)
    assert main(["evaluate", "--checkpoint", str(trained), "--seeds", "2", "--seed", "5"]) == 1
    assert "leave out --seed" in _error(capsys)
