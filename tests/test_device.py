"""Training on another device than the CPU (`train --device`): the choice, its errors, the draws that stay on the
CPU generator, and, where torch sees a CUDA GPU, every family's training steps there."""

import json

import pytest
import torch

from diffusion import checkpoint
from diffusion.__main__ import main
from diffusion.config import TrainConfig
from diffusion.discrete import inverse_cdf, sample_weights
from diffusion.training import resolve_device

FAMILIES = [("ardm", []), ("ar", []), ("sedd", []), ("sedd", ["--graph", "uniform"]), ("continuous", []),
            ("continuous", ["--parameterisation", "eps"]), ("seq2seq", [])]


def test_device_names_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
        TrainConfig(device="gpu")
    TrainConfig(device="cuda:1")  # a name is checked when made, its presence when training starts


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_missing_gpu_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--family", "ar", "--preset", "tiny", "--steps", "2", "--out", str(tmp_path / "r"),
                 "--device", "cuda"]) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no CUDA GPU" in err and "--device cpu" in err
    assert not (tmp_path / "r" / "meta.json").exists()


def test_inverse_cdf_draws_each_id_with_its_probability():
    probs = torch.tensor([[0.0, 0.25, 0.0, 0.75, 0.0]]).expand(5, -1)
    u = torch.tensor([0.0, 0.2499, 0.25, 0.9999, 1.0])  # 1.0 stands for rounding past the last cumulative sum
    assert inverse_cdf(probs, u).tolist() == [1, 1, 3, 3, 3]  # never an id of probability 0
    gen = torch.Generator().manual_seed(0)
    weights = torch.tensor([[1.0, 2.0, 3.0, 4.0]]).expand(40_000, -1)
    draws = inverse_cdf(weights / weights.sum(-1, keepdim=True), torch.rand(40_000, generator=gen))
    freq = torch.bincount(draws, minlength=4).double() / 40_000
    assert torch.allclose(freq, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64), atol=0.01)
    # on the CPU the generator's own multinomial is used, as before
    a = sample_weights(weights[:8], torch.Generator().manual_seed(1))
    b = torch.multinomial(weights[:8] / 10, 1, generator=torch.Generator().manual_seed(1))[:, 0]
    assert torch.equal(a, b)


def test_resuming_a_finished_run_keeps_its_ema_weights(tmp_path):
    """The EMA a resumed run starts from is the checkpoint's, not the raw weights (and its warm-up count goes on)."""
    args = ["train", "--family", "ardm", "--preset", "tiny", "--out", str(tmp_path / "r"),
            "--device", "cpu"]
    assert main([*args, "--steps", "8"]) == 0
    first = checkpoint.load(tmp_path / "r").model.state_dict()
    _, js = checkpoint.load_training_state(tmp_path / "r")
    assert js["ema_updates"] == 8
    assert main([*args, "--steps", "8"]) == 0  # nothing left to train: the checkpoint is written again as it was
    again = checkpoint.load(tmp_path / "r").model.state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert json.loads((tmp_path / "r" / "meta.json").read_text())["train_config"]["device"] == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("family,extra", FAMILIES)
def test_every_family_trains_on_a_gpu_and_samples_on_the_cpu(family, extra, tmp_path):
    out = tmp_path / family
    assert main(["train", "--family", family, "--preset", "tiny", "--steps", "5", "--out", str(out),
                 "--device", "cuda", *extra]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["train_config"]["device"].startswith("cuda") and "trained on" in meta["machine"]
    ck = checkpoint.load(out)
    assert all(p.device.type == "cpu" for p in ck.model.parameters())
    args = ["sample", "--checkpoint", str(out), "--num-samples", "2", "--json"]  # at the family's default steps
    if family == "seq2seq":
        args += ["--source", "name [zizzi] food [french]"]
    assert main(args) == 0


BF16 = [("ardm", {}), ("ar", {}), ("sedd", {}), ("sedd", {"graph": "uniform"}), ("continuous", {}),
        ("continuous", {"parameterisation": "eps"}), ("seq2seq", {})]


@pytest.mark.parametrize("family,overrides", BF16)
def test_every_loss_runs_under_bf16_autocast(family, overrides):
    """`--precision bf16` runs the loss under bfloat16 autocast on a GPU. No GPU here: the CPU's autocast, which casts
    the same matrix products, checks each family's loss computes without a dtype clash and lands near fp32's."""
    from diffusion.config import preset
    from diffusion.corpus.loaders import load_builtin
    from diffusion.families import get_family
    from diffusion.rows import encode_split, prepare

    config, _ = preset("tiny", family=family, **overrides)
    corpus = load_builtin(paired=get_family(family).paired)
    config, tokenizer = prepare(config, corpus)
    model, process = get_family(family).build(config)
    batch = encode_split(config, tokenizer, corpus, "validation")[:16]
    exact = process.loss(model, batch, torch.Generator().manual_seed(0)).total
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = process.loss(model, batch, torch.Generator().manual_seed(0)).total
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert low.item() == pytest.approx(exact.item(), rel=0.05)
    low.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
