"""The app on free-form English: the tabs that sample from the prior offer the checkpoints trained by the CLI on the
shipped paired corpus (diffusion.shipped.REAL_TEXT), beside the built-in grammar's, in process."""

import json

import pytest

from diffusion import checkpoint, shipped
from diffusion.corpus.loaders import load_corpus
from diffusion.metrics import mr_slots
from ui import discrete, order, seq2seq
from ui.common import FREE_FORM, SHIPPED, model_radio, pick_checkpoint
from ui.denoise import denoise
from ui.inputs import UserError


def test_every_free_form_checkpoint_ships_with_the_command_that_made_it():
    for name, entry in shipped.REAL_TEXT.items():
        ck = checkpoint.load(entry.folder)
        assert ck.config.family == entry.family, name
        meta = json.loads((entry.folder / "meta.json").read_text())
        assert meta["command"].startswith("python -m diffusion train") and "assets/corpora/stays.csv" in meta["command"]
        assert meta["corpus"] == "assets/corpora/stays.csv" and meta["lengths"]["train_rows"] > 300
        assert not (entry.folder / checkpoint.TRAINING_STATE).exists()  # shipped without the optimiser state
    assert checkpoint.load(shipped.REAL_TEXT["seq2seq"].folder).tokenizer.kind == "bpe"


def test_the_model_choice_offers_free_form_english_where_it_ships():
    assert model_radio("x", "seq2seq").choices == [(c, c) for c in (SHIPPED, FREE_FORM, "trained here")]
    assert FREE_FORM not in [c for c, _ in model_radio("x").choices]  # a tab without one: the two choices
    assert pick_checkpoint("ardm", FREE_FORM).path == shipped.REAL_TEXT["ardm"].folder
    with pytest.raises(UserError, match="no sedd-uniform model trained on free-form English ships"):
        pick_checkpoint("sedd", FREE_FORM, name="sedd-uniform")


def test_seq2seq_describes_a_place_it_never_saw():
    source = seq2seq.example_source(FREE_FORM)
    corpus = load_corpus(str(shipped.REAL_TEXT_CORPUS), source_column="mr", target_column="description")
    name = mr_slots(source)["name"]
    assert source in corpus.sources["test"] and not any(name in s for s in corpus.sources["train"])
    assert seq2seq.example_source(SHIPPED) != source
    value, run, candidates, heatmap = list(seq2seq.seq2seq_run(source, 0, 20, 2, FREE_FORM))[-1]
    assert len(run.samples[0]) == 2 and candidates.count("MBR pick") == 1
    assert "slot values" not in candidates  # no grammar to check free-form English against


def test_the_sampling_tabs_run_the_free_form_models():
    *_, last = denoise(0, 20, "ddpm", True, 1.0, 1, FREE_FORM)
    assert last[1].samples[0] and last[1].settings
    *_, last = order.order_agnostic(0, 10, 1.0, 1, FREE_FORM)
    assert last[1].samples[0]
    view, _ = discrete.forward_view("absorb", "A quiet inn near the harbour.", 0.5, 0, FREE_FORM)
    assert view["frames"]
