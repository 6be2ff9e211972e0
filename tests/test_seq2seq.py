"""DiffuSeq: partial noising, anchoring, the row layout, source checks, MBR, and a tiny model learning p(y | x)."""

import pytest
import torch

from diffusion.config import preset
from diffusion.corpus import MAX_MR_WORDS, TextTokenizer, linearise_mr, parse_mr, realised_slots, sample_examples
from diffusion.corpus.tokenizer import PAD_ID, SEP_ID
from diffusion.discrete import spans
from diffusion.metrics import bleu_matrix, mbr_pick
from diffusion.sampling import sample, sample_steps
from diffusion.seq2seq import (Seq2SeqModel, Seq2SeqProcess, check_source, decode_targets, encode_pairs,
                               encode_sources, held_mask, source_notes, source_words, target_length_table)

SOURCES = ["name [zizzi] food [french]", "name [aromi] area [city centre]"]
TARGETS = ["zizzi serves french food .", "aromi is in the city centre ."]


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.train([*TARGETS, *map(source_words, SOURCES)])


def tiny(tokenizer: TextTokenizer, source_len: int = 6, target_len: int = 8, **kw):
    mc, _ = preset("tiny", family="seq2seq", vocab_size=tokenizer.vocab_size, source_len=source_len,
                   seq_len=source_len + 1 + target_len, num_timesteps=50, **{"length_model": "pad", **kw})
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


@pytest.mark.parametrize("parameterisation", ["x0", "eps"])
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


@pytest.mark.parametrize("length_model", ["pad", "prior"])
def test_tiny_model_learns_the_target_of_each_source(tokenizer, length_model):
    """Two pairs: from pure noise, each source's chain lands exactly on its own target, so it reads the source. By
    length the target's length is drawn first, from p(L | n) read off the pairs (0.9998 on each target's own)."""
    torch.manual_seed(0)
    mc = tiny(tokenizer, length_model=length_model)
    model, p = Seq2SeqModel(mc), Seq2SeqProcess(mc)
    batch = encode_pairs(tokenizer, mc, SOURCES, TARGETS).repeat(4, 1)
    p = p.configure(**p.data_settings(batch.repeat(1000, 1)))  # by length p(L | n); nothing on the fixed canvas
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
    # any other corpus: read as the model reads it, [UNK] for unseen words and a long source cut, each with a note
    assert check_source(tokenizer, mc, "name zizzi  food martian", builtin=False) == "name zizzi food martian"
    assert source_notes(tokenizer, mc, "name zizzi food martian") == [
        "read as [UNK] (not in the training vocabulary): martian"]
    long = "name zizzi food french name aromi area city"
    assert source_notes(tokenizer, mc, long) == ["the source has 8 tokens; the model reads its first 6"]
    row = encode_sources(tokenizer, mc, [long], truncate=True)[0]
    assert row[:6].tolist() == tokenizer.encode(long)[:6] and row[6] == SEP_ID
    with pytest.raises(ValueError, match="at most 6"):
        encode_sources(tokenizer, mc, [long])
    with pytest.raises(ValueError, match="empty"):
        check_source(tokenizer, mc, "   ", builtin=False)


def test_longest_mr_fits_and_slots_are_counted_by_the_validator():
    ex = next(sample_examples(3, exact=False))
    assert len(source_words(linearise_mr(ex.mr)).split()) <= MAX_MR_WORDS == 19
    assert realised_slots(ex.text, ex.mr) == len(ex.mr)
    assert realised_slots("nothing here .", ex.mr) == 0


# ---- the target's length drawn first (length_model "prior") ---------------------------------------------------

def test_target_length_table_counts_each_source_length_and_falls_back_on_the_marginal(tokenizer):
    mc = tiny(tokenizer, length_model="prior")  # S = 6, targets of 1..8 words
    rows = encode_pairs(tokenizer, mc, [SOURCES[0]] * 3 + [SOURCES[1]], [TARGETS[0]] * 3 + [TARGETS[1]])
    table = torch.tensor(target_length_table(rows, mc), dtype=torch.float64)  # (7, 8)
    assert table.shape == (7, 8) and torch.allclose(table.sum(1), torch.ones(7, dtype=torch.float64))
    marginal = torch.tensor([1, 1, 1, 1, 4, 1, 2, 1], dtype=torch.float64) / 12  # counts + 1: three 5s, one 7
    assert torch.allclose(table[0], marginal)  # no source of 0 words: the marginal
    assert torch.allclose(table[4], (torch.eye(8, dtype=torch.float64)[4] * 3 + marginal) / 4)  # "name zizzi food french"
    assert torch.allclose(table[5], (torch.eye(8, dtype=torch.float64)[6] + marginal) / 2)
    assert Seq2SeqProcess(mc, length_table=table.tolist()).length_table[4] == tuple(table[4].tolist())
    with pytest.raises(ValueError, match="7 rows"):
        Seq2SeqProcess(mc, length_table=table[:3].tolist())


def test_by_length_chain_keeps_the_source_and_writes_the_drawn_target_length(tokenizer):
    """Each source gets a target of the length p(L | n) gives its word count, in every frame; the source's own
    padding stays [PAD] and the source is anchored as on the fixed canvas."""
    torch.manual_seed(0)
    mc = tiny(tokenizer, length_model="prior")
    model = Seq2SeqModel(mc).eval()
    table = torch.full((7, 8), 1 / 8)
    table[4], table[5] = torch.eye(8)[2], torch.eye(8)[5]  # 4 source words: 3 target words; 5: 6
    rows = encode_sources(tokenizer, mc, SOURCES)
    p = Seq2SeqProcess(mc, source=rows, length_table=table.tolist())
    steps = list(sample_steps(p, model, 2, 10, generator=torch.Generator().manual_seed(0), every=1))
    for s in steps:
        assert torch.equal(s.tokens[:, :7], rows[:, :7])
        target = s.tokens[:, 7:]
        assert torch.equal(target != PAD_ID, torch.arange(8) < torch.tensor([[3], [6]]))
    emb = model.embedding(rows[:, :7]).detach()
    assert torch.equal(steps[-1].latent[:, :7], emb)
    with pytest.raises(ValueError, match="no length distribution"):
        sample(Seq2SeqProcess(mc, source=rows), model, 2, 5)


def test_by_length_a_target_reads_the_same_whatever_padding_surrounds_it(tokenizer):
    """By length the source's padding and the target's are hidden from attention: cutting the rows after the last
    target word, or changing the padding's latents, changes nothing at a word."""
    torch.manual_seed(0)
    mc = tiny(tokenizer, length_model="prior")
    model, p = Seq2SeqModel(mc).eval(), Seq2SeqProcess(mc)
    rows = encode_pairs(tokenizer, mc, SOURCES, TARGETS)
    content = rows != PAD_ID  # source words, [SEP], target words
    last = int(spans(content).max())
    assert last == 7 + 7 and spans(content).tolist() == [7 + 5, 7 + 7]  # targets of 5 and 7 words
    xt, i = torch.randn(2, mc.seq_len, mc.embed_dim), torch.tensor([10, 30])
    with torch.no_grad():
        full = p.predict_x0(model, xt, i, content=content)
        other = p.predict_x0(model, torch.where(content[..., None], xt, torch.randn_like(xt)), i, content=content)
        cut = p.predict_x0(model, xt[:, :last], i, content=content[:, :last])
    assert torch.allclose(full[content], other[content], atol=1e-5)
    assert torch.allclose(full[:, :last][content[:, :last]], cut[content[:, :last]], atol=1e-5)


def test_training_batches_cut_after_the_last_word_not_the_word_count(tokenizer):
    """A by-length batch is cut after its last word; seq2seq rows hold the source's padding before the target, so
    cutting at the word count (10 and 13 here) would drop the ends of the targets."""
    from diffusion.rows import draw_batches

    mc = tiny(tokenizer, length_model="prior")
    rows = encode_pairs(tokenizer, mc, SOURCES, TARGETS)
    batches = draw_batches(rows, PAD_ID, 2, torch.Generator().manual_seed(0), True)
    widths = set()
    for _ in range(8):
        batch = next(batches)
        widths.add(batch.shape[1])
        for row in batch:  # each row whole: one of the two, cut only where padding follows
            assert any(torch.equal(row, r[:batch.shape[1]]) and (r[batch.shape[1]:] == PAD_ID).all() for r in rows)
    assert widths == {12, 14}
