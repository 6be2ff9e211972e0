"""The left-to-right reference: its exact likelihood by hand, samples and early stopping, a tiny model learning
one batch."""

import math

import pytest
import torch

from diffusion.ar import BOS_ID, EOS_ID, MASK_ID, PAD_ID, ARModel, ARProcess, inputs_and_targets
from diffusion.config import preset
from diffusion.sampling import sample

V, L = 14, 6


def config(family: str):
    mc, _ = preset("tiny", family=family, vocab_size=V, seq_len=L, length_model="pad")  # the fixed canvas
    return mc


def toy_batch() -> torch.Tensor:
    return torch.tensor([[6, 7, 8, PAD_ID, PAD_ID, PAD_ID], [9, 10, 11, 12, 13, 6]])


def test_ar_inputs_and_targets_end_each_sentence_with_eos():
    inputs, targets = inputs_and_targets(toy_batch())
    assert inputs[:, 0].eq(BOS_ID).all() and torch.equal(inputs[:, 1:], toy_batch())
    assert targets[0].tolist() == [6, 7, 8, EOS_ID, PAD_ID, PAD_ID, PAD_ID]
    assert targets[1].tolist() == [9, 10, 11, 12, 13, 6, EOS_ID]  # a full-length sentence still ends


def test_ar_nll_is_the_sum_of_next_token_log_probs_by_hand():
    torch.manual_seed(0)
    model, process = ARModel(config("ar")).eval(), ARProcess(config("ar"))
    ids = toy_batch()
    by_hand = []
    for row in ids:
        words = [int(w) for w in row if w != PAD_ID] + [EOS_ID]
        total, prefix = 0.0, [BOS_ID]
        for w in words:  # one forward per prefix: causality is not assumed, it is checked
            with torch.no_grad():
                logp = model(torch.tensor([prefix])).log_softmax(-1)[0, -1]
            total -= float(logp[w])
            prefix.append(w)
        by_hand.append(total)
    assert process.nll_bound(model, ids).tolist() == pytest.approx(by_hand, rel=1e-5)


def test_ar_samples_are_sentences_then_padding_and_deterministic():
    torch.manual_seed(0)
    model, process = ARModel(config("ar")).eval(), ARProcess(config("ar"))
    a = sample(process, model, 8, L, generator=torch.Generator().manual_seed(3), every=1)
    b = sample(process, model, 8, L, generator=torch.Generator().manual_seed(3), every=1)
    assert all(torch.equal(x.tokens, y.tokens) for x, y in zip(a.steps, b.steps))
    final = a.final.tokens
    assert not (final == MASK_ID).any() and not (final == EOS_ID).any()
    for row in final.tolist():  # padding only as a suffix
        first_pad = row.index(PAD_ID) if PAD_ID in row else L
        assert all(w == PAD_ID for w in row[first_pad:]) and all(w > EOS_ID for w in row[:first_pad])
    # each step writes exactly the next position
    for k, step in enumerate(a.steps[1:], start=1):
        assert not (step.tokens[:, :k] == MASK_ID).any() and (step.tokens[:, k:] == MASK_ID).all()


def test_ar_stops_calling_the_network_once_every_sentence_has_ended():
    """A model that ends one sentence after two words and the other after four: the chain's network calls are the
    longest sentence plus its end (five), not the length; the samples are what each call drew, then padding."""
    torch.manual_seed(0)

    class Scripted(ARModel):
        def forward(self, ids, t=None):
            logits = torch.full((*ids.shape, V), -30.0)
            k = ids.shape[1] - 1  # the position being written
            ends = torch.tensor([k >= 2, k >= 4])[: ids.shape[0]]
            logits[:, -1, 7] = 0.0
            logits[ends, -1, EOS_ID] = 30.0
            return logits

    model, process = Scripted(config("ar")).eval(), ARProcess(config("ar"))
    traj = sample(process, model, 2, L, generator=torch.Generator().manual_seed(0), every=1)
    assert traj.final.tokens.tolist() == [[7, 7, PAD_ID, PAD_ID, PAD_ID, PAD_ID], [7, 7, 7, 7, PAD_ID, PAD_ID]]
    assert [s.calls for s in traj.steps] == [0, 1, 2, 3, 4, 5, 5]
    assert (traj.final.confidence == 1).all()


def test_ar_steps_must_equal_the_length():
    with pytest.raises(ValueError, match=f"steps must be the model's length {L}"):
        ARProcess(config("ar")).timesteps(3)


def test_tiny_ar_model_overfits_one_batch():
    torch.manual_seed(0)
    model, process = ARModel(config("ar")), ARProcess(config("ar"))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    ids = toy_batch()
    first = process.loss(model, ids).total.item()
    for _ in range(300):
        loss = process.loss(model, ids).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    # the floor: each sentence pays log 2 at its first word (which of the two it is), over 11 predicted tokens
    floor = 2 * math.log(2) / 11
    assert loss.item() < floor + 0.02 and first > 10 * floor
