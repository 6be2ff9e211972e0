"""Sampler settings in one vocabulary (diffusion/settings.py): a printed command parses back to the same settings,
and an evaluation's meta.json key is what the shipped checkpoints recorded."""

import shlex
from types import SimpleNamespace

import pytest

from diffusion import settings
from diffusion.__main__ import _configure, build_parser
from diffusion.config import preset
from diffusion.families import configure, get_family
from diffusion.metrics import recorded_settings


def process(family: str, **config):
    model_config, _ = preset("tiny", family=family, vocab_size=20, seq_len=6, length_model="pad", **config)
    return model_config, get_family(family).build(model_config)[1]


CASES = [
    ("continuous", {}, {}),
    ("continuous", {}, dict(sampler="ddim")),
    ("continuous", {}, dict(clamp_from=0.35)),
    ("continuous", {}, dict(clamp=False)),
    ("continuous", {}, dict(noise_scale=0.7)),
    ("sedd", {}, dict(sampler="euler")),
    ("sedd", {}, dict(remask=0.02)),
    ("sedd", {}, dict(sampler="any-order")),
    ("sedd", {}, dict(sampler="any-order", order="confident")),
    ("sedd", dict(graph="uniform"), dict(sampler="euler")),
    ("ardm", {}, dict(temperature=0.5, order="left-to-right")),
    ("ar", {}, dict(temperature=0.0)),
]


@pytest.mark.parametrize("family, config, given", CASES)
def test_a_printed_command_parses_back_to_the_same_settings(family, config, given):
    model_config, base = process(family, **config)
    configured = configure(base, **given)
    command = settings.sample_command("CK", configured, steps=6, seed=3, num_samples=2)
    argv = shlex.split(command)[3:]  # after "python -m diffusion"
    args = build_parser().parse_args(argv)
    assert (args.checkpoint, args.steps, args.seed, args.num_samples) == ("CK", 6, 3, 2)
    ck = SimpleNamespace(process=base, config=model_config, path="CK")
    again = _configure(ck, args).process
    assert type(again) is type(configured)
    assert settings.current(again) == settings.current(configured)


def test_only_what_differs_from_the_defaults_is_printed():
    _, base = process("continuous")
    assert settings.flags(base) == []
    assert settings.flags(configure(base, clamp=False)) == ["--clamp-from", "0.0"]
    assert settings.flags(configure(base, sampler="ddim", clamp_from=0.5)) == ["--sampler", "ddim", "--clamp-from",
                                                                              "0.5"]
    _, sedd = process("sedd")
    assert settings.flags(configure(sedd, sampler="any-order")) == ["--sampler", "any-order"]


def test_conditioning_is_quoted_and_repeated():
    _, base = process("continuous")
    command = settings.sample_command("assets/checkpoints/continuous", base, 200, 0, 4, control=["food=italian",
                                      "area=city centre"], guidance_weight=0.1)
    assert command.endswith("--control food=italian --control 'area=city centre' --guidance-weight 0.1")
    with pytest.raises(ValueError, match="unknown conditioning length"):
        settings.sample_command("CK", base, 200, 0, 4, length=12)


@pytest.mark.parametrize("family, given, steps, key", [
    ("continuous", {}, 200, "steps=200,sampler=ddpm,clamp=True"),
    ("continuous", dict(noise_scale=0.7), 200, "steps=200,sampler=ddpm,clamp=True,noise_scale=0.7"),
    ("sedd", dict(remask=0.02), 1024, "steps=1024,sampler=tweedie,remask=0.02"),
    ("sedd", dict(sampler="any-order"), 40, "steps=40,sampler=any-order"),
    ("sedd", dict(sampler="any-order", order="confident"), 40, "steps=40,sampler=any-order,order=confident"),
    ("ardm", dict(order="left-to-right"), 40, "steps=40,temperature=1.0,order=left-to-right"),
    ("ar", {}, 40, "steps=40,temperature=1.0"),
])
def test_evaluation_keys_are_the_ones_the_shipped_checkpoints_recorded(family, given, steps, key):
    _, base = process(family)
    result = {"steps": steps, **recorded_settings(configure(base, **given))}
    assert settings.evaluation_key(result) == key


def test_a_recorded_evaluation_is_labelled_in_the_same_words():
    _, base = process("continuous")
    result = {"steps": 200, **recorded_settings(configure(base, clamp_from=0.5, noise_scale=0.7))}
    assert settings.label(result) == "ddpm · clamp · from t = 0.5 · noise x0.7"
    _, sedd = process("sedd")
    result = recorded_settings(configure(sedd, sampler="any-order", order="confident"))
    assert settings.label(result) == "any-order · confident order"
