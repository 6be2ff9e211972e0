"""DiffuSeq: partial noising, anchoring, the row layout, source checks, MBR, and a tiny model learning p(y | x)."""

import pytest
import torch

from diffusion.config import preset
from diffusion.corpus import MAX_MR_WORDS, TextTokenizer, linearise_mr, parse_mr, realised_slots, sample_examples
from diffusion.corpus.tokenizer import PAD_ID, SEP_ID
from diffusion.metrics import bleu_matrix, mbr_pick
from diffusion.sampling import sample, sample_steps
from diffusion.seq2seq import (Seq2SeqModel, Seq2SeqProcess, check_source, decode_targets, encode_pairs,
                               encode_sources, held_mask, source_words)

SOURCES = ["name [zizzi] food [french]", "name [aromi] area [city centre]"]
TARGETS = ["zizzi serves french food .", "aromi is in the city centre ."]


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.train([*TARGETS, *map(source_words, SOURCES)])


def tiny(tokenizer: TextTokenizer, source_len: int = 6, target_len: int = 8, **kw):
    mc, _ = preset("tiny", family="seq2seq", vocab_size=tokenizer.vocab_size, source_len=source_len,
                   seq_len=source_len + 1 + target_len, num_timesteps=50, **kw)
    return mc


def test_rows_hold_source_sep_and_target(tokenizer):
    mc = tiny(tokenizer)
    rows = encode_pairs(tokenizer, mc, SOURCES, TARGETS)
    assert rows.shape == (2, mc.seq_len)
    assert tokenizer.decode(rows[1, :6]) == "name aromi area city centre"  # brackets dropped
    assert (rows[:, 6] == SEP_ID).all()
    assert decode_targets(tokenizer, mc, rows) == TARGETS
    only_sources = encode_sources(tokenizer, mc, SOURCES)
    assert torch.equal(only_sources[:, :7], rows[:, :7]) and (only_sources[:, 7:] == PAD_ID).all()
    assert held_mask(mc).tolist() == [True] * 7 + [False] * 8


def test_partial_noising_leaves_the_source_untouched_at_every_t(tokenizer):
    torch.manual_seed(0)
    mc = tiny(tokenizer)
    model, p = Seq2SeqModel(mc), Seq2SeqProcess(mc)
    x0 = p.embed(model, encode_pairs(tokenizer, mc, SOURCES, TARGETS), noisy=False)  # (2, L, d)
    for t in (0.02, 0.3, 0.7, 1.0):
        xt = p.add_noise(x0, t, torch.Generator().manual_seed(1))
        assert torch.equal(xt[:, :7], x0[:, :7])
        assert not torch.allclose(xt[:, 7:], x0[:, 7:])


def test_loss_ignores_the_source_positions(tokenizer):
    """Only the target is noised and scored: a model whose outputs differ only at the source has the same loss."""
    torch.manual_seed(0)
    mc = tiny(tokenizer)
    model, p = Seq2SeqModel(mc), Seq2SeqProcess(mc)
    batch = encode_pairs(tokenizer, mc, SOURCES, TARGETS)
    base = p.loss(model, batch, torch.Generator().manual_seed(3)).total
    assert torch.isfinite(base)
    original = model.out_proj.forward

    def noisy_at_source(h):
        out = original(h)
        return torch.cat([out[:, :7] + 100.0, out[:, 7:]], dim=1)

    model.out_proj.forward = noisy_at_source
    again = p.loss(model, batch, torch.Generator().manual_seed(3)).total
    assert again.item() == pytest.approx(base.item(), rel=1e-5)


@pytest.mark.parametrize("parameterisation", ["x0", "softmax"])
def test_anchoring_restores_the_source_after_every_step(tokenizer, parameterisation):
    torch.manual_seed(0)
    mc = tiny(tokenizer, parameterisation=parameterisation)
    model = Seq2SeqModel(mc)
    rows = encode_sources(tokenizer, mc, SOURCES)
    p = Seq2SeqProcess(mc, source=rows)
    emb = model.embedding(rows[:, :7]).detach()
    steps = list(sample_steps(p, model, 2, 20, generator=torch.Generator().manual_seed(0), every=1))
    assert len(steps) == 21
    for s in steps:
        assert torch.equal(s.tokens[:, :7], rows[:, :7])
    for s in steps[1:]:
        assert torch.equal(s.latent[:, :7], emb)
        assert torch.equal(s.pred_tokens[:, :7], rows[:, :7])


def test_one_source_for_many_samples_and_same_seed_same_trajectory(tokenizer):
    mc = tiny(tokenizer)
    model = Seq2SeqModel(mc)
    p = Seq2SeqProcess(mc, source=encode_sources(tokenizer, mc, SOURCES[:1]))
    a, b = (sample(p, model, 3, 10, generator=torch.Generator().manual_seed(5)) for _ in range(2))
    assert all(torch.equal(x.tokens, y.tokens) and torch.equal(x.latent, y.latent) for x, y in zip(a.steps, b.steps))
    assert (a.final.tokens[:, :7] == encode_sources(tokenizer, mc, SOURCES[:1])[:, :7]).all()
    with pytest.raises(ValueError, match="need a source"):
        sample(Seq2SeqProcess(mc), model, 1, 5)
    with pytest.raises(ValueError, match="one per sample"):
        sample(p.configure(source=encode_sources(tokenizer, mc, SOURCES)), model, 3, 5)


def test_tiny_model_learns_the_target_of_each_source(tokenizer):
    """Two pairs: from pure noise, each source's chain lands exactly on its own target, so it reads the source."""
    torch.manual_seed(0)
    mc = tiny(tokenizer)
    model, p = Seq2SeqModel(mc), Seq2SeqProcess(mc)
    batch = encode_pairs(tokenizer, mc, SOURCES, TARGETS).repeat(4, 1)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(400):
        loss = p.loss(model, batch, g)
        opt.zero_grad()
        loss.total.backward()
        opt.step()
    model.eval()
    for source, target in zip(SOURCES, TARGETS):
        rows = encode_sources(tokenizer, mc, [source])
        traj = sample(p.configure(source=rows), model, 4, 50, generator=torch.Generator().manual_seed(1))
        assert decode_targets(tokenizer, mc, traj.final.tokens) == [target] * 4


def test_mbr_picks_the_medoid():
    cands = ["the cat sat on the mat .", "a dog ran in the park today .", "the cat sat on a mat .",
             "the cat sat on the mat today ."]
    m = bleu_matrix(cands)
    assert len(m) == 4 and all(m[i][i] == 100.0 for i in range(4))
    gains = [sum(v for j, v in enumerate(row) if j != i) for i, row in enumerate(m)]
    assert mbr_pick(m) == 0 == max(range(4), key=gains.__getitem__)
    assert gains[1] == min(gains)  # the outlier is the worst pick
    assert mbr_pick(bleu_matrix(["same words", "same words"])) == 0  # ties go to the first
    assert mbr_pick(bleu_matrix(["alone"])) == 0


def test_parse_mr_and_its_errors():
    assert parse_mr(" name [zizzi]  food [ fast food ]") == {"name": "zizzi", "food": "fast food"}
    assert linearise_mr(parse_mr("food [thai] name [zizzi]")) == "name [zizzi] food [thai]"
    for text, message in [("", "empty"), ("name zizzi", "slot \\[value\\]"), ("colour [red] name [zizzi]", "unknown slot"),
                          ("name [zizzi] food [martian]", "accepted: italian"), ("food [thai]", "no name slot"),
                          ("name [zizzi] name [aromi]", "twice")]:
        with pytest.raises(ValueError, match=message):
            parse_mr(text)


def test_check_source_for_builtin_and_user_corpora(tokenizer):
    mc = tiny(tokenizer)
    assert check_source(tokenizer, mc, "food [french] name [zizzi]", builtin=True) == SOURCES[0]
    with pytest.raises(ValueError, match="unknown slot"):
        check_source(tokenizer, mc, "name [zizzi] colour [red]", builtin=True)
    with pytest.raises(ValueError, match="never saw: martian"):
        check_source(tokenizer, mc, "name zizzi food martian", builtin=False)
    with pytest.raises(ValueError, match="at most 6"):
        check_source(tokenizer, mc, "name zizzi food french name aromi area city", builtin=False)
    with pytest.raises(ValueError, match="empty"):
        check_source(tokenizer, mc, "   ", builtin=False)


def test_longest_mr_fits_and_slots_are_counted_by_the_validator():
    ex = next(sample_examples(3, exact=False))
    assert len(source_words(linearise_mr(ex.mr)).split()) <= MAX_MR_WORDS == 19
    assert realised_slots(ex.text, ex.mr) == len(ex.mr)
    assert realised_slots("nothing here .", ex.mr) == 0
