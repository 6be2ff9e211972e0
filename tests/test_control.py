"""Plug-and-play control: infilling, length, classifier guidance (diffusion/control.py, diffusion/classifier.py)."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from diffusion import checkpoint
from diffusion.classifier import (ABSENT, ClassifierConfig, SlotClassifier, has_classifier, load_classifier,
                                  save_classifier)
from diffusion.classifier_training import labels
from diffusion.control import Control, Guidance, guide, infill_anchor, length_anchor, parse_targets
from diffusion.corpus import VALUES
from diffusion.corpus.tokenizer import PAD_ID
from diffusion.metrics import control_figures, realises
from diffusion.sampling import sample

from conftest import cli, train_tiny


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint: Path):
    return checkpoint.load(tiny_checkpoint)


# ---- infilling and length ------------------------------------------------------------------------------------

TEMPLATE = "zizzi is a ___ ___ in the city centre ."


def test_infill_anchor_reads_a_template(tiny):
    a = infill_anchor(tiny.tokenizer, TEMPLATE, tiny.config.seq_len)
    words = TEMPLATE.split()
    assert a.free.nonzero().flatten().tolist() == [3, 4]
    assert tiny.tokenizer.tokens(a.ids[:len(words)]) == [w if w != "___" else "[PAD]" for w in words]
    assert bool((a.ids[len(words):] == PAD_ID).all()) and bool(a.known[len(words):].all())


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_infilling_never_changes_a_given_word(tiny, sampler):
    anchor = infill_anchor(tiny.tokenizer, TEMPLATE, tiny.config.seq_len)
    process = tiny.process.configure(sampler=sampler, control=Control(anchor=anchor))
    traj = sample(process, tiny.model, 6, 20, generator=torch.Generator().manual_seed(0), every=1)
    for step in traj.steps[1:]:  # every recorded step, not only the last
        assert bool((step.tokens[:, anchor.known] == anchor.ids[anchor.known]).all())
        assert bool((step.pred_tokens[:, anchor.known] == anchor.ids[anchor.known]).all())
    final = traj.final.tokens
    assert bool((final[:, anchor.free] != PAD_ID).all()), "a blank was filled with padding"
    for row in final:
        words = tiny.tokenizer.decode(row).split()
        assert len(words) == len(TEMPLATE.split())
        assert [w for w, t in zip(words, TEMPLATE.split()) if t != "___"] == [t for t in TEMPLATE.split() if t != "___"]


@pytest.mark.parametrize("n", [1, 7, 12])
def test_length_control_gives_exactly_n_words(tiny, n):
    process = tiny.process.configure(control=Control(anchor=length_anchor(n, tiny.config.seq_len)))
    traj = sample(process, tiny.model, 8, 10, generator=torch.Generator().manual_seed(n), every=10)
    for row in traj.final.tokens:
        assert len(tiny.tokenizer.decode(row).split()) == n
        assert bool((row[:n] != PAD_ID).all()) and bool((row[n:] == PAD_ID).all())


def test_control_figures_of_an_anchored_run(tiny):
    control = Control(anchor=length_anchor(5, tiny.config.seq_len))
    tokens = torch.full((2, tiny.config.seq_len), PAD_ID)
    tokens[0, :5] = 10
    tokens[1, :4] = 10  # one word short: its padding position 4 is not where the anchor fixed [PAD]
    figures = control_figures(control, ["a"] * 2, tokens, PAD_ID)
    assert figures["length_exact"] == 0.5 and figures["anchor_kept"] == 1.0


# ---- guidance ------------------------------------------------------------------------------------------------

class HandBuilt(SlotClassifier):
    """p(food = value k | x) = softmax over classes of w_k . mean(x): a classifier whose gradient is known."""

    def __init__(self):
        super().__init__(ClassifierConfig(embed_dim=4, seq_len=3, num_timesteps=10, schedule="sqrt", data_var=1.0,
                                          slots={"food": ["italian", "french"]}, d_model=8, n_layers=1, n_heads=2,
                                          d_ff=8))
        self.w = nn.Parameter(torch.tensor([[0.0, 0, 0, 0], [3.0, 0, 0, 0], [-3.0, 0, 0, 0]]), requires_grad=False)

    def forward(self, xt, t, content=None):
        return {"food": xt.mean(1) @ self.w.T}


def test_guidance_moves_the_latent_towards_the_asked_value():
    clf = HandBuilt()
    g = Guidance(clf, {"food": "italian"}, weight=0.0, step_size=0.1, updates=3)
    x = torch.zeros(2, 3, 4)
    with torch.inference_mode():  # as the sampler runs it
        moved, prob = g.apply(x, x.clone(), torch.tensor(1.0), 0.5)
    assert bool((moved[..., 0] > 0).all()), "italian's weight points along +x[0]"
    assert torch.allclose(moved[..., 1:], torch.zeros(2, 3, 3))  # no gradient off that direction
    assert bool((prob > g.probability(x, 0.5)).all())
    g_fr = Guidance(clf, {"food": "french"}, weight=0.0, step_size=0.1, updates=3)
    assert bool((g_fr.apply(x, x.clone(), torch.tensor(1.0), 0.5)[0][..., 0] < 0).all())


def test_a_content_only_classifier_neither_reads_nor_pushes_the_padding():
    """By length the LM keeps the padding on [PAD]'s path: the classifier sees only the sentence, and guidance moves
    only the sentence's latents."""
    torch.manual_seed(0)
    config = ClassifierConfig(embed_dim=4, seq_len=6, num_timesteps=10, schedule="sqrt", data_var=1.0,
                              slots={"food": ["italian", "french"]}, d_model=8, n_layers=1, n_heads=2, d_ff=8,
                              content_only=True)
    clf = SlotClassifier(config).eval()
    content = torch.tensor([[True] * 4 + [False] * 2, [True] * 6])
    x = torch.randn(2, 6, 4)
    other = x.clone()
    other[0, 4:] = torch.randn(2, 4) * 5  # other padding latents in the first row
    t = torch.full((2,), 0.5)
    with torch.no_grad():
        assert torch.allclose(clf(x, t, content)["food"], clf(other, t, content)["food"], atol=1e-6)
        assert not torch.allclose(clf(x, t)["food"][0], clf(other, t)["food"][0])  # without content: all positions
    g = Guidance(clf, {"food": "italian"}, weight=0.0, step_size=0.1, updates=3)
    with torch.inference_mode():  # as the sampler runs it: the content mask is an inference tensor there
        moved, _ = g.apply(x, x.clone(), torch.tensor(1.0), 0.5, content.clone())
    assert torch.equal(moved[0, 4:], x[0, 4:]) and not torch.allclose(moved[0, :4], x[0, :4])
    assert not torch.allclose(moved[1], x[1])


def test_a_classifier_saved_before_content_only_loads_as_reading_every_position(tmp_path: Path):
    clf = HandBuilt()
    save_classifier(tmp_path, SlotClassifier(clf.config), {"steps": 1})
    raw = json.loads((tmp_path / "classifier.json").read_text())
    del raw["config"]["content_only"]  # as written before the field existed
    (tmp_path / "classifier.json").write_text(json.dumps(raw))
    loaded, _ = load_classifier(tmp_path)
    assert loaded.config.content_only is False


def test_fluency_weight_holds_the_latent_near_the_step_mean():
    clf = HandBuilt()
    x = torch.zeros(1, 3, 4)
    mean = torch.zeros(1, 3, 4)
    loose = guide(x, mean, torch.tensor(0.01), lambda z: clf.log_prob(z, None, {"food": 1}), 0.0, 0.1, 10)
    tight = guide(x, mean, torch.tensor(0.01), lambda z: clf.log_prob(z, None, {"food": 1}), 10.0, 0.1, 10)
    assert float(tight.norm()) < float(loose.norm())


def test_guide_matches_adagrad_by_hand():
    """One update of Adagrad from x: x - lr * g / sqrt(g^2) = x - lr * sign(g), g the gradient of -objective."""
    x = torch.tensor([[[1.0, -2.0]]])
    mean = torch.zeros_like(x)
    out = guide(x, mean, torch.tensor(1.0), lambda z: -(z**2).sum((1, 2)) * 0, 1.0, 0.5, 1)
    # objective = -||x - mean||^2 / 2: gradient of -objective is x, so each coordinate moves by 0.5 towards 0
    assert torch.allclose(out, torch.tensor([[[0.5, -1.5]]]), atol=1e-6)


def test_parse_targets_names_what_is_accepted():
    slots = {"food": list(VALUES["food"]), "area": list(VALUES["area"])}
    assert parse_targets(["food=italian", "area = city  centre"], slots) == {"food": "italian", "area": "city centre"}
    with pytest.raises(ValueError, match="unknown slot 'colour'; control accepts food, area"):
        parse_targets(["colour=red"], slots)
    with pytest.raises(ValueError, match="unknown value 'martian' for food; accepted: italian, french"):
        parse_targets(["food=martian"], slots)
    with pytest.raises(ValueError, match="not SLOT=VALUE"):
        parse_targets(["italian"], slots)
    with pytest.raises(ValueError, match="asks for food twice"):
        parse_targets(["food=italian", "food=thai"], slots)


def test_labels_and_absent_class():
    slots = {"food": ["italian", "french"], "area": ["riverside"]}
    y = labels([{"food": "french"}, {"area": "riverside"}], slots)
    assert y["food"].tolist() == [2, 0] and y["area"].tolist() == [0, 1]
    clf = HandBuilt()
    assert clf.classes("food")[0] == ABSENT and clf.target_index("food", "french") == 2


def test_control_success_is_computed_by_the_validator():
    grammatical_italian = "zizzi is an italian restaurant ."
    assert realises(grammatical_italian, {"food": "italian"})
    assert not realises(grammatical_italian, {"food": "french"})
    broken = "zizzi zizzi serves italian food near ."  # not a sentence of the grammar, yet the value is spotted
    assert realises(broken, {"food": "italian"})
    control = Control(guidance=Guidance(HandBuilt(), {"food": "italian"}))
    figures = control_figures(control, [grammatical_italian, broken, "zizzi is a pub ."], torch.zeros(3, 3), PAD_ID)
    assert figures["control_success"] == pytest.approx(2 / 3)
    assert figures["control_success_grammatical"] == pytest.approx(1 / 3)
    assert 0.02 < figures["control_prior_rate"] < 0.06  # one of 14 foods, present in about half the sentences


# ---- the classifier in a checkpoint, and the CLI -------------------------------------------------------------

def test_train_classifier_saves_next_to_the_model(tiny_with_classifier: Path):
    assert has_classifier(tiny_with_classifier)
    clf, meta = load_classifier(tiny_with_classifier)
    assert meta["steps"] == 30 and "train-classifier" in meta["command"]
    assert set(meta["accuracy_by_t"]) == {"0", "0.25", "0.5", "0.75", "0.9", "1"}
    assert set(clf.config.slots) >= {"food", "area", "eatType", "priceRange"}
    assert not any(p.requires_grad for p in clf.parameters())


def test_cli_sample_with_every_control(tiny_with_classifier: Path):
    ck = str(tiny_with_classifier)
    out = cli("sample", "--checkpoint", ck, "--num-samples", "3", "--steps", "6", "--json", "--control", "food=italian",
              "--infill", " ".join(["___"] * 9))  # blanks only: exactly that many words
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["control"]["targets"] == {"food": "italian"}
    assert all(len(s.split()) == 9 for s in result["samples"])
    out = cli("sample", "--checkpoint", ck, "--num-samples", "2", "--steps", "4", "--infill", TEMPLATE)
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        assert line.startswith("zizzi is a ") and line.endswith(" in the city centre .")


def test_cli_evaluate_reports_control_success(tiny_with_classifier: Path):
    out = cli("evaluate", "--checkpoint", str(tiny_with_classifier), "--num-samples", "4", "--steps", "4", "--control", "area=riverside")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert 0.0 <= result["control_success"] <= 1.0 and "grammatical_rate" in result
    assert result["control"]["targets"] == {"area": "riverside"}


def test_cli_guides_a_length_first_model_with_a_content_only_classifier(tmp_path_factory: pytest.TempPathFactory):
    """The shipped model draws its length first: its classifier reads the sentence's positions only, end to end."""
    ck = train_tiny(tmp_path_factory, "continuous")
    assert cli("train-classifier", "--checkpoint", str(ck), "--steps", "10").returncode == 0
    clf, _ = load_classifier(ck)
    assert clf.config.content_only
    out = cli("sample", "--checkpoint", str(ck), "--num-samples", "3", "--steps", "6", "--json", "--control", "food=italian")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["control"]["targets"] == {"food": "italian"}


@pytest.mark.parametrize("args, message", [
    (["--control", "colour=red"], "unknown slot 'colour'"),
    (["--control", "food=martian"], "accepted: italian, french"),
    (["--infill", "zizzi is a pub ."], "the template has no blank"),
    (["--infill", "zizzi is a ___ zorblax ."], "never saw: zorblax"),
    (["--infill", " ".join(["___"] * 99)], "the template has 99 words but this model writes at most"),
])
def test_cli_control_bad_input(tiny_with_classifier: Path, args, message):
    out = cli("sample", "--checkpoint", str(tiny_with_classifier), "--num-samples", "1", "--steps", "2", *args)
    assert out.returncode != 0
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_cli_control_without_a_classifier_says_how_to_train_one(tiny_checkpoint: Path):
    out = cli("sample", "--checkpoint", str(tiny_checkpoint), "--num-samples", "1", "--steps", "2", "--control", "food=thai")
    assert out.returncode != 0 and "train-classifier --checkpoint" in out.stderr


def test_cli_control_on_another_family(tiny_sedd: Path):
    out = cli("sample", "--checkpoint", str(tiny_sedd), "--num-samples", "1", "--steps", "2", "--infill", "___ ___")
    assert out.returncode != 0 and "continuous family only" in out.stderr


def test_train_classifier_refuses_another_family(tiny_sedd: Path):
    out = cli("train-classifier", "--checkpoint", str(tiny_sedd), "--steps", "2")
    assert out.returncode != 0 and "not 'continuous'" in out.stderr
