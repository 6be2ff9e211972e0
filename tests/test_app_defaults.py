"""Each tab's default run on the shipped checkpoints: the handler called with the inputs the tab's layout sends before
anything is touched (no browser) shows what the tab is about, as often as the rate line beside its Run button says,
which `evaluate --seeds 20 --record` measured over seeds 0-19. Deterministic by seed."""

from collections.abc import Callable
from typing import Any

import gradio as gr
import pytest

import app
from diffusion import shipped
from diffusion.corpus import is_grammatical
from diffusion.metrics import bleu_matrix, mbr_pick, realises
from ui import clamp, control, denoise, discrete, order, rates, seq2seq
from ui.common import SHIPPED, TRAINED, env_name

pytestmark = pytest.mark.skipif(not all((app.CHECKPOINTS / name).is_dir() for name in shipped.SHIPPED),
                                reason="no shipped checkpoints")


@pytest.fixture(autouse=True)
def use_shipped(monkeypatch: pytest.MonkeyPatch):
    for name in shipped.SHIPPED:
        monkeypatch.delenv(env_name(name), raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield
    app._load.cache_clear()


def defaults(tab: Callable[[gr.State], Any], run_id: str) -> tuple[list[Any], str]:
    """The values the tab's Run button sends before anything is touched, and the rate line the page opens with."""
    with gr.Blocks() as demo:
        tab(gr.State({}))
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == run_id)
    event = next(f for f in demo.fns.values() if any(t[0] == button._id and t[1] == "click" for t in f.targets))
    line = next(b for b in demo.blocks.values() if str(getattr(b, "elem_id", "")).endswith("-rate"))
    return [block.value for block in event.inputs], line.value


def last(outputs: Any) -> tuple[Any, ...]:
    return list(outputs)[-1]


def seed_zero(entry: dict[str, Any]) -> dict[str, Any]:
    row = entry["per_seed"][0]
    assert row["seed"] == 0 and entry["seeds"] == 20
    return row


def test_denoise_default_draws_grammatical_sentences():
    inputs, line = defaults(denoise.tab, "run")
    seed, steps, sampler, clamp_on, clamp_from, num_samples, choice, models, noise_scale = inputs
    assert seed == 0 and choice == SHIPPED
    entry = rates.measured("continuous", steps=steps, sampler=sampler, num_samples=num_samples,
                           noise_scale=noise_scale, clamp_from=clamp_from if clamp_on else 0.0, control=None)
    assert entry is not None and f"in {entry['all_grammatical']} of 20 seeds (0–19)" in line
    run = last(denoise.denoise(*inputs))[1]
    grammatical = [v.grammatical for v in run.verdicts[0]]
    assert sum(grammatical) == seed_zero(entry)["grammatical"]
    assert all(grammatical)  # seed 0 is one of the seeds that shows it


def test_clamping_default_shows_the_contrast_in_its_rates():
    inputs, line = defaults(clamp.tab, "ct-run")
    seed, steps, sampler, clamp_from, choice, models, compare = inputs
    assert seed == 0 and compare == "clamping"
    on = rates.measured("continuous", steps=steps, sampler=sampler, num_samples=1, noise_scale=1.0,
                        clamp_from=clamp_from, control=None)
    off = rates.measured("continuous", steps=steps, sampler=sampler, num_samples=1, noise_scale=1.0, clamp_from=0.0,
                         control=None)
    eps = rates.measured(rates.EPS_FOLDER, steps=steps, sampler=sampler, num_samples=1, noise_scale=1.0,
                         clamp_from=clamp_from, control=None)
    assert None not in (on, off, eps)
    # the contrasts the tab exists for, over seeds 0-19: clamped beats unclamped, x0 beats eps
    assert on["all_grammatical"] > off["all_grammatical"]
    assert on["all_grammatical"] > eps["all_grammatical"]
    assert f"with clamping in {on['all_grammatical']}, without in {off['all_grammatical']} of 20 seeds" in line
    run = last(clamp.clamp_compare(*inputs))[3]
    columns = [is_grammatical(texts[0]) for texts in run.samples]
    assert columns == [bool(seed_zero(on)["grammatical"]), bool(seed_zero(off)["grammatical"])]
    predicted = rates.clamp(steps, sampler, clamp_from, choice, "prediction")
    assert f"predicting x₀ in {on['all_grammatical']}, predicting ε in {eps['all_grammatical']}" in predicted
    run = last(clamp.clamp_compare(*inputs[:-1], "prediction"))[3]
    assert [is_grammatical(texts[0]) for texts in run.samples] == [bool(seed_zero(on)["grammatical"]),
                                                                   bool(seed_zero(eps)["grammatical"])]


def test_discrete_default_decodes_most_confident_first():
    inputs, line = defaults(discrete.tab, "sedd-run")
    graph, seed, steps, sampler, num_samples, choice, models, remask, order_ = inputs
    assert (graph, seed, sampler, order_) == ("absorb", 0, "any-order", "confident")
    entry = rates.measured("sedd-absorb", steps=steps, sampler=sampler, order=order_, num_samples=num_samples,
                           remask=None)
    assert entry is not None and f"in {entry['all_grammatical']} of 20 seeds (0–19)" in line
    exact = rates.discrete(graph, steps, sampler, num_samples, choice, remask, "random")  # one click away
    assert "Measured" in exact or exact == rates.NOT_MEASURED
    run = last(discrete.sedd_denoise(*inputs))[1]
    assert all(v.grammatical for v in run.verdicts[0]) and seed_zero(entry)["grammatical"] == num_samples


def test_order_agnostic_default_draws_a_grammatical_sentence():
    inputs, line = defaults(order.tab, "order-run")
    seed, budget, temperature, num_samples, choice, models, order_, network = inputs
    assert (seed, order_, network) == (0, "confident", "ardm")
    entry = rates.measured("ardm", steps=budget, temperature=temperature, order=order_, num_samples=num_samples)
    assert entry is not None and f"in {entry['all_grammatical']} of 20 seeds (0–19)" in line
    run = last(order.order_agnostic(*inputs))[1]
    assert all(v.grammatical for v in run.verdicts[0]) and seed_zero(entry)["grammatical"] == num_samples


def test_seq2seq_default_mbr_pick_is_grammatical():
    inputs, line = defaults(seq2seq.tab, "s2s-run")
    source, seed, steps, candidates, choice, models = inputs
    assert seed == 0
    entry = rates.measured("seq2seq", steps=steps, num_samples=candidates, source=source)
    assert entry is not None and f"grammatical in {entry['pick_grammatical']} of 20 seeds (0–19)" in line
    run = last(seq2seq.seq2seq_run(*inputs))[1]
    texts = run.result["candidates"]
    assert run.result["mbr_pick"] == mbr_pick(bleu_matrix(texts))
    assert is_grammatical(run.result["output"]) and seed_zero(entry)["pick_grammatical"]


def test_control_default_says_the_asked_value_in_a_sentence():
    inputs, line = defaults(control.tab, "control-run")
    mode, template, length, slot, value, weight, step_size, updates, seed, steps, num_samples, choice, models = inputs
    assert (mode, slot, value, seed) == ("Classifier guidance", "food", "italian", 0)
    asked = dict(targets={slot: value}, weight=weight, step_size=step_size, updates=updates)
    entry = next(e for e in rates.by_seed("continuous") if (e.get("control") or {}).items() >= asked.items()
                 and (e["steps"], e["num_samples"], e["seeds"]) == (steps, num_samples, 20))
    assert f"at least one of the {num_samples} samples grammatical and saying food = italian in " \
           f"{entry['any_on_target']} of 20 seeds (0–19)" in line
    run = last(control.control_run(*inputs))[1]
    hits = [is_grammatical(t) and realises(t, {slot: value}) for t in run.samples[0]]
    assert sum(hits) == seed_zero(entry)["on_target"] >= 1  # a sentence that says the asked value


def test_rate_line_says_nothing_it_did_not_measure():
    assert rates.denoise(37, "ddpm", True, 1.0, 3, SHIPPED, 0.35) == rates.NOT_MEASURED
    assert rates.denoise(200, "ddpm", True, 1.0, 2, TRAINED, 1.0) == ""  # a model trained here was never measured
    assert rates.seq2seq("name [nowhere]", 200, 8) == rates.NOT_MEASURED
    assert rates.control("Infilling", "food", "italian", 0.01, 0.1, 3, 200, 2) == ""
