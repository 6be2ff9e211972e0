"""The Forward noising and Embeddings tabs: word classes, figure builders, handlers on the tiny model, and Chromium."""

import html
import json
import re
import shutil
import warnings
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

import app
from conftest import shot
import diffusion.projection
import visualize.embeddings
from diffusion.corpus.classes import FUNCTION, OTHER, PUNCTUATION, SLOT_KEY, SPECIAL, class_names, word_class
from diffusion.corpus.grammar import BUILTIN, SLOTS, Grammar
from diffusion.corpus.tokenizer import SPECIAL_TOKENS
from diffusion.corpus.validator import is_grammatical
from diffusion.projection import (PROJECTION_FILE, nearest_neighbours, neighbours_and_distances, pca_2d, pca_basis,
                                  project)
from diffusion.views import noise_path
from test_app import open_in_chromium
from ui import embeddings, forward
from ui.common import env_name
from visualize.embeddings import OKABE_ITO, _fit_labels, class_styles, embedding_map_figure
from visualize.paths import KEPT, MOVED, noising_frames_figure, place_labels
from visualize.plots import schedules_figure



# ---- word classes -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [
    ("italian", "food"), ("fast", "food"), ("serving", "food"), ("riverside", "area"), ("centre", "area"),
    ("coffee", "eatType"), ("cafe", "eatType"), ("zizzi", "name"), ("beside", "near"), ("yippee", "near"),
    ("rated", "customerRating"), ("pricey", "priceRange"), ("kid", "familyFriendly"),
    ("high", "priceRange"),  # a value of priceRange and customerRating: the first slot in grammar order
    ("the", FUNCTION), ("is", FUNCTION), ("by", FUNCTION), ("called", FUNCTION), ("which", FUNCTION),
    (".", PUNCTUATION), (",", PUNCTUATION), ("[PAD]", SPECIAL), ("[MASK]", SPECIAL),
    ("eatType", SLOT_KEY), ("priceRange", SLOT_KEY), ("zebra", OTHER),
])
def test_word_class_of_builtin_words(word, expected):
    assert word_class(word) == expected


def test_every_value_word_is_its_slots_and_every_grammar_word_is_classed():
    for slot in SLOTS:
        for value in BUILTIN.values[slot]:
            assert all(word_class(w) in SLOTS for w in value.split()), (slot, value)
    assert all(word_class(w) != OTHER for w in BUILTIN.vocabulary())


def test_word_classes_are_derived_from_the_grammar_object():
    g = Grammar(slots=("name", "food"), values={"name": ("bob",), "food": ("soup", "hot pie")},
                phrasings={("name", "np"): {"bob": ("bob",)},
                           ("food", "vp"): {"soup": ("eats soup", "is fond of soup"), "hot pie": ("eats hot pie",)}},
                frames=("<name:np> is here",), tail_orders=(("food",),), connectors=("and",))
    assert [word_class(w, g) for w in ("bob", "soup", "pie", "eats", "fond", "is", "here", "and", "italian")] == [
        "name", "food", "food", "food", "food", FUNCTION, FUNCTION, FUNCTION, OTHER]
    assert class_names(g)[:2] == ("name", "food")


@pytest.mark.parametrize("family", ["continuous", "seq2seq"])
def test_every_word_of_the_shipped_tokenizers_gets_a_grammar_class(family):
    path = app.CHECKPOINTS / family / "tokenizer.json"
    if not path.is_file():
        pytest.skip(f"no shipped {family} checkpoint")
    tok = Tokenizer.from_file(str(path))
    classes = [word_class(tok.id_to_token(i)) for i in range(tok.get_vocab_size())]
    assert set(classes) <= set(class_names())
    assert OTHER not in classes  # the shipped models are trained on the built-in grammar
    assert {"food", "area", "name", "near", FUNCTION, PUNCTUATION, SPECIAL} <= set(classes)
    assert (SLOT_KEY in classes) == (family == "seq2seq")  # a seq2seq source spells the slot names


# ---- figure builders ----------------------------------------------------------------------------------------------

def test_class_styles_use_okabe_ito_then_greys_by_shape():
    styles = class_styles(class_names())
    assert [styles[s][0] for s in SLOTS] == list(OKABE_ITO)
    rest = [styles[c] for c in class_names()[len(SLOTS):]]
    assert len(set(rest)) == len(rest) and all(c not in OKABE_ITO for c, _ in rest)


def test_nearest_neighbours_match_brute_force_and_skip_self():
    emb = np.random.default_rng(0).normal(size=(30, 4))
    nn = nearest_neighbours(emb, 5)
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    for i in range(30):
        expected = [j for j in np.argsort(dist[i]) if j != i][:5]
        assert list(nn[i]) == expected


def test_pca_basis_reproduces_the_cached_pca_and_is_affine():
    emb = np.random.default_rng(1).normal(size=(50, 6)).astype(np.float32)
    basis = pca_basis(emb)
    assert np.allclose(project(emb, basis), pca_2d(emb), atol=1e-4)
    x0, eps, a, b = emb[3], emb[7], 0.6, 0.8
    mix = project(a * x0 + b * eps, basis)
    assert np.allclose(mix, a * project(x0, basis) + b * project(eps, basis) + (1 - a - b) * project(0 * x0, basis))


def _map(highlight=None, matches=None, query=""):
    words = ["[PAD]", ".", "the", "italian", "french", "riverside", "zebra"]
    classes = [word_class(w) for w in words]
    coords = np.arange(14, dtype=float).reshape(7, 2)
    emb = np.random.default_rng(2).normal(size=(7, 3))
    return embedding_map_figure(coords, words, classes, nearest_neighbours(emb, 3), class_names(), "UMAP", highlight,
                                matches, query)


def test_embedding_map_has_one_trace_per_class_present_with_neighbours_on_hover():
    fig = _map()
    assert [t.name for t in fig.data] == ["food (2)", "area (1)", "function word (1)", "punctuation (1)",
                                          "special token (1)", "not in the grammar (1)"]
    food = fig.data[0]
    assert food.marker.color == class_styles(class_names())["food"][0]
    assert food.hovertext[0].startswith("<b>italian</b><br>food<br>nearest: ") and food.hovertext[0].count(",") == 2
    assert "UMAP of the 7 word embeddings" in fig.layout.title.text


def test_embedding_map_labels_every_point_that_fits_and_keeps_the_legend_off_the_axes():
    fig = _map()
    labels = {w for t in fig.data for w in t.text if w}
    assert labels == {"[PAD]", ".", "the", "italian", "french", "riverside", "zebra"}  # seven points on a diagonal
    assert all(t.textfont.size >= 12 for t in fig.data)
    assert fig.layout.legend.x >= 1 and fig.layout.legend.xanchor == "left"  # beside the plot, not over an axis
    special = next(t for t in fig.data if t.name.startswith(SPECIAL))
    others = {t.marker.symbol for t in fig.data if t is not special}
    assert special.marker.symbol not in others and SPECIAL == visualize.embeddings.SPECIAL


def test_fit_labels_leaves_out_what_would_collide():
    r, c = np.full(3, 5.0), np.full(3, 7.0)  # marker radius and character width, pixels
    # on a 40-pixel-high strip a label fits only beside its point: the second of two on one spot has no room
    strip = np.array([[30.0, 20], [30, 20], [100, 20]])
    where = _fit_labels(strip, ["first", "second", "x"], [0, 1, 2], (120, 40), r, c)
    assert where == {0: "middle right", 2: "middle right"}
    # a label whose only place covers another point is left out, unless asked for (then only asked points block it)
    px, labels = np.array([[30.0, 20], [45, 20]]), ["abc", ""]
    assert _fit_labels(px, labels, [0, 1], (200, 40), r[:2], c[:2]) == {}
    assert _fit_labels(px, labels, [0, 1], (200, 40), r[:2], c[:2], over_points=[0]) == {0: "middle right"}
    assert _fit_labels(px, labels, [0, 1], (200, 40), r[:2], c[:2], over_points=[0, 1]) == {}  # a leader would cross
    # a crowd of words asked for: those with no room beside their point go further off, with a leader line
    crowd = np.array([[150.0 + 8 * i, 100 + 8 * j] for i in (-1, 0, 1) for j in (-1, 0, 1)])
    words, r, c = [f"word{k}" for k in range(9)], np.full(9, 4.0), np.full(9, 7.0)
    beside = _fit_labels(crowd, words, range(9), (300, 200), r, c)
    asked = _fit_labels(crowd, words, range(9), (300, 200), r, c, over_points=range(9))
    assert all(isinstance(p, str) for p in beside.values()) and 0 < len(beside) < 9
    callouts = [p for p in asked.values() if not isinstance(p, str)]
    assert asked.items() >= beside.items() and callouts and min(np.hypot(*p) for p in callouts) >= 30


def test_embedding_map_search_isolates_and_labels_the_matches():
    fig = _map(matches=[3, 4], query="<i>")
    *classes, found = fig.data
    assert all(t.marker.opacity < 0.5 and not any(t.text) for t in classes)  # the rest faded and unlabelled
    assert found.name == "matches of '&lt;i&gt;' (2)" and list(found.text) == ["italian", "french"]
    assert found.marker.opacity == 1 and "2 matching '&lt;i&gt;'" in fig.layout.title.text
    nothing = _map(matches=[], query="pizza")  # nothing found: the map stays as it is, and says so
    assert "nothing matches 'pizza'" in nothing.layout.title.text
    assert [t.name for t in nothing.data] == [t.name for t in _map().data]
    assert all(t.marker.opacity > 0.5 for t in nothing.data)
    with pytest.raises(ValueError, match="matches must be ids of the 7 words"):
        _map(matches=[7])


def test_embedding_map_highlight_labels_the_word_and_its_neighbours():
    fig = _map("italian")
    assert fig.data[-1].text == ("<b>italian</b>",) and len(fig.data[-2].text) == 3
    assert "italian" not in fig.data[-2].text
    labelled_twice = [w for t in fig.data[:-2] for w in t.text or () if w in fig.data[-2].text or w == "italian"]
    assert labelled_twice == []  # a ringed word is labelled by its ring only
    with pytest.raises(ValueError, match="not one of the words"):
        _map("pizza")
    with pytest.raises(ValueError, match="one row per word"):
        embedding_map_figure(np.zeros((2, 2)), ["a"], ["food"], [[0]], class_names())


def test_embedding_map_escapes_words_for_plotly():
    fig = embedding_map_figure([[0, 0], [1, 1]], ["<b>", "a&b"], [OTHER, OTHER], [[1], [0]], class_names())
    assert set(fig.data[0].text) == {"&lt;b&gt;", "a&amp;b"}


def test_noising_frames_colour_kept_and_moved_words_and_follow_the_player():
    vocab = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    paths = np.array([[[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]], [[2.0, 0.0], [0.5, 0.2]]])  # (3, 2, 2)
    words = ["the", "the", "cafe"]
    rounded = [["the", "the", "cafe"], ["pub", "pub", "cafe"]]
    fig = noising_frames_figure(vocab, ["the", "pub", "cafe"], paths, words, rounded, [0.0, 0.3], start=1)
    now = next(t for t in fig.data if t.meta == "now-xy")
    assert list(now.text) == ["pub ×2", "", "cafe"]  # two tokens on one spot: one label
    assert list(now.marker.color) == [MOVED, MOVED, KEPT]
    frames = fig.layout.meta["player"]
    assert [f["now-xy"]["x"] for f in frames] == [[0.0, 0.0, 2.0], [1.0, 1.0, 0.5]]  # the points at each time
    assert frames[0]["now-xy"]["marker.color"] == [KEPT] * 3
    assert list(next(t for t in fig.data if t.name == "x₀ = EMB(w)").x) == [0.0, 0.0, 2.0]
    with pytest.raises(ValueError, match="one list of words per time"):
        noising_frames_figure(vocab, ["a", "b", "c"], paths, words, rounded[:1], [0.0, 0.3], start=0)


def test_place_labels_keeps_labels_off_other_points_and_labels():
    view = [[-1, 1], [-1, 1]]  # on 400 x 400 px: 0.1 is 20 px
    assert place_labels([[0, 0], [0.5, 0.5]], ["first", "second"], view, size_px=(400, 400)) == ["top center"] * 2
    # B sits 20 px above A: A's label goes below, so B's can stay on top
    assert place_labels([[0, 0], [0, 0.1]], ["first", "second"], view, size_px=(400, 400)) == [
        "bottom center", "top center"]
    # a point between two others 20 px above and below: its label goes to the side, theirs stay clear of it
    where = place_labels([[0, 0], [0, 0.1], [0, -0.1]], ["middle", "above", "below"], view, size_px=(400, 400))
    assert where == ["middle right", "top center", "bottom center"]


def test_schedules_figure_draws_each_schedule_and_moves_its_cursor():
    curves = {"sqrt": ([0.0, 0.5, 1.0], [1.0, 0.3, 0.0]), "cosine": ([0.0, 0.5, 1.0], [1.0, 0.5, 0.0])}
    fig = schedules_figure(curves, "cosine", "sqrt", current=0.5, frames=[0.0, 0.5, 1.0])
    names = [t.name for t in fig.data if t.meta is None]
    assert names == ["sqrt (this model's)", "cosine"]
    assert fig.data[1].line.width > fig.data[0].line.width  # the chosen one, drawn thick
    moves = fig.layout.meta["player"]
    assert [m["now-point"]["y"] for m in moves] == [[1.0], [0.5], [0.0]]  # on the chosen curve


def test_example_sentences_are_grammatical():
    assert all(is_grammatical(s) for s in forward.EXAMPLES)


# ---- handlers on the tiny model -----------------------------------------------------------------------------------

@pytest.fixture
def tiny_copy(tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the tiny continuous checkpoint (no projection.npz) as the shipped continuous model."""
    path = tmp_path / "continuous"
    shutil.copytree(tiny_checkpoint, path)
    # Whole-app browser tests on the shared tiny checkpoint draw its map on page load, which caches one there.
    (path / PROJECTION_FILE).unlink(missing_ok=True)
    monkeypatch.setenv(app.CHECKPOINT_ENV, str(path))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield path
    app._load.cache_clear()


def _frame_text(value: dict, k: int) -> str:
    return re.sub(r"<[^>]+>", " ", value["frames"][k][0])


def test_forward_view_is_the_process_add_noise_with_the_seeds_eps(tiny_copy):
    sentence, t, seed = forward.EXAMPLES[1], 0.36, 5
    value, fig, schedule = forward.forward_view(sentence, t, seed, "shipped", {})
    assert len(value["frames"]) == len(forward.TIMES) and value["labels"][value["start"]] == "t = 0.36"
    assert set(value["linked"]) == {"fwd-map", "fwd-schedule"}
    ck = app.get_checkpoint()
    ids = torch.tensor(ck.tokenizer.encode(sentence))
    emb = ck.model.embedding.weight.detach()
    x0 = emb[ids][None]  # (1, n, d)
    xt = ck.process.add_noise(x0, t, torch.Generator().manual_seed(seed))[0]  # (n, d)
    basis = pca_basis(emb.numpy())
    now = next(tr for tr in fig.data if tr.meta == "now-xy")  # drawn at the opening frame
    assert np.allclose(np.stack([now.x, now.y], 1), project(xt.numpy(), basis), atol=1e-5)
    moves = fig.layout.meta["player"][value["start"]]["now-xy"]
    assert np.allclose(np.stack([moves["x"], moves["y"]], 1), project(xt.numpy(), basis), atol=1e-5)
    # the same eps at every t: the path is coupled
    path = noise_path(ck.process, x0, [0.2, 0.9], seed)
    ab = ck.process.alpha_bar[ck.process.index(torch.tensor([0.2, 0.9]))].view(2, 1, 1)
    eps = (path - ab.sqrt() * x0) / (1 - ab).sqrt()
    assert torch.allclose(eps[0], eps[1], atol=1e-4)
    assert forward.forward_view(sentence, t, seed, "shipped", {})[0] == value
    other = forward.forward_view(sentence, t, seed + 1, "shipped", {})[1]
    assert not np.allclose(next(tr for tr in other.data if tr.meta == "now-xy").x, now.x)
    # every schedule's rounding in each frame, the chosen one first; the map follows the chosen one
    assert [line.split()[0] for line in re.findall(r"x_t rounds to\s+(\S+)", _frame_text(value, 10))] == [
        ck.config.schedule, *[n for n in ("linear", "cosine", "sqrt") if n != ck.config.schedule]]
    tops = [json.loads(html.unescape(m)) for m in re.findall(r"data-top='([^']*)'", value["frames"][10][0])]
    assert len(tops) == len(ids)  # the chosen schedule's row: the rounding's likeliest words at each position
    assert all([p for _, p in top] == sorted((p for _, p in top), reverse=True) for top in tops)
    cosine, cosine_fig, curves = forward.forward_view(sentence, t, seed, "shipped", {}, "cosine")
    assert re.findall(r"x_t rounds to\s+(\S+)", _frame_text(cosine, 10))[0] == "cosine"
    assert next(tr for tr in curves.data if tr.name == "cosine").line.width == 4
    with pytest.raises(gr.Error, match="schedule must be one of linear, cosine, sqrt, got 'exp'"):
        forward.forward_view(sentence, t, seed, "shipped", {}, "exp")


def test_forward_view_at_t0_rounds_back_to_the_sentence(tiny_copy):
    sentence = forward.EXAMPLES[0]
    value, fig, _ = forward.forward_view(sentence, 0.0, 0, "shipped", {})
    n = len(sentence.split())
    assert value["start"] == 0 and f"0 of {n} words now round to another word" in value["frames"][0][0]
    now = next(t for t in fig.data if t.meta == "now-xy")
    words = sentence.split()
    for hover in now.hovertext:  # "position k: w → rounds to <b>w</b>"
        k, word, rounded = re.fullmatch(r"position (\d+): (\S+) → rounds to <b>(\S+)</b>", hover).groups()
        assert word == rounded == words[int(k) - 1]
    starts = next(t for t in fig.data if t.name == "x₀ = EMB(w)")
    assert np.allclose(now.x, starts.x) and np.allclose(now.y, starts.y)  # at t = 0 x_t is x0 itself


@pytest.mark.parametrize("sentence, t, seed, message", [
    ("", 0.5, 0, "the sentence is empty"),
    ("   ", 0.5, 0, "the sentence is empty"),
    ("zizzi is a zebra pub .", 0.5, 0, "words this model never saw: zebra"),
    ("Zizzi is a pub .", 0.5, 0, "never saw: Zizzi; use words of its training corpus (the built-in corpus is lower"),
    ("zizzi is a [MASK] .", 0.5, 0, "never saw: [MASK]"),
    (" ".join(["pub"] * 200), 0.5, 0, "the sentence has 200 tokens but this model takes at most"),
    (forward.EXAMPLES[0], 1.5, 0, "t must be a number from 0 to 1"),
    (forward.EXAMPLES[0], 0.5, -1, "seed must be a whole number"),
    (forward.EXAMPLES[0], 0.5, 0.5, "seed must be a whole number"),
])
def test_forward_view_bad_input_is_a_one_line_gr_error(tiny_copy, sentence, t, seed, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        forward.forward_view(sentence, t, seed, "shipped", {})


def test_forward_view_trained_here_without_a_model_says_so(tiny_copy):
    with pytest.raises(gr.Error, match="you have not trained a continuous model"):
        forward.forward_view(forward.EXAMPLES[0], 0.5, 0, "trained here", {})
    value, _, _ = forward.forward_view(forward.EXAMPLES[0], 0.5, 0, "trained here", {"continuous": str(tiny_copy)})
    assert value["labels"][value["start"]] == "t = 0.50"


def test_embedding_map_without_cache_shows_pca_then_computes_umap_once(tiny_copy, umap_stand_in):
    assert not (tiny_copy / PROJECTION_FILE).exists()
    pca_only = list(embeddings.embedding_map("continuous", "PCA", "", "shipped", {}))
    assert len(pca_only) == 1 and "PCA of" in pca_only[0][1] and umap_stand_in == []  # PCA needs no UMAP
    assert not (tiny_copy / PROJECTION_FILE).exists()

    first = list(embeddings.embedding_map("continuous", "UMAP", "", "shipped", {}))
    assert len(first) == 2
    (fig0, status0), (fig1, status1) = first
    assert "PCA" in fig0.layout.title.text and "computing it once" in status0
    assert "UMAP" in fig1.layout.title.text and f"saved in {PROJECTION_FILE}" in status1
    assert (tiny_copy / PROJECTION_FILE).is_file()
    ck = app.get_checkpoint()
    V = ck.config.vocab_size
    assert umap_stand_in == [V]

    again = list(embeddings.embedding_map("continuous", "UMAP", "", "shipped", {}))
    assert len(again) == 1 and "cached in" in again[0][1] and umap_stand_in == [V]  # computed once
    # the points drawn are the cached map's
    cached = diffusion.projection.load_projection(tiny_copy)["umap"]
    xs = np.concatenate([t.x for t in again[0][0].data])
    assert np.allclose(np.sort(xs), np.sort(cached[:, 0]), atol=1e-5)
    assert sum(len(t.x) for t in again[0][0].data) == V


def test_find_words_is_a_plain_case_insensitive_substring_match():
    words = ["[PAD]", "[MASK]", "italian", "it", "wit", "Italy", ".", "*"]
    assert [words[i] for i in embeddings.find_words(words, "IT")] == ["it", "Italy", "italian", "wit"]
    assert [words[i] for i in embeddings.find_words(words, "[")] == ["[MASK]", "[PAD]"]
    assert embeddings.find_words(words, ".*") == [] and embeddings.find_words(words, "(a+)+$") == []  # no pattern
    assert embeddings.find_words(words, "") == []


def test_search_chooses_the_pick_the_word_itself_or_a_single_match():
    words = ["[PAD]", "italian", "french", "friendly", "from", "fr"]
    assert embeddings.search(words, "  ").matches is None
    fr = embeddings.search(words, "fr")
    assert fr.chosen == 5 and fr.matches[0] == 5  # the word itself
    assert embeddings.search(words, "fri").chosen == 3  # the one match
    assert embeddings.search(words, "fre", picked="french").chosen == 2
    many = embeddings.search(words, "r", picked="italian")  # a stale pick that the query does not match
    assert many.chosen is None and "pick one" in many.note and "italian" not in many.note
    none = embeddings.search(words, "<pizza>")
    assert none.matches == [] and none.chosen is None
    assert none.note == ("No word of this model's vocabulary contains “&lt;pizza&gt;”: type one of its 6 words or "
                         "its first letters, e.g. italian, french, friendly")


def test_embedding_map_search_neighbours_skip_special_tokens_and_warn_nothing(tiny_copy, umap_stand_in):
    ck = app.get_checkpoint()
    words = ck.tokenizer.tokens(range(ck.config.vocab_size))
    special = [i for i, w in enumerate(words) if w in SPECIAL_TOKENS]
    emb = ck.model.embedding.weight.detach().numpy()
    ids, dist = neighbours_and_distances(emb, embeddings.NEIGHBOURS, exclude=special)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no gr.Warning: what a search finds is said on the page
        (fig, status), = list(embeddings.embedding_map("continuous", "PCA", "italian", "shipped", {}))
        note, matches, table = embeddings.search_panel("continuous", "italian", "shipped", {}, "")
        (_, status_bad), = list(embeddings.embedding_map("continuous", "PCA", "pizza", "shipped", {}))
        note_bad, matches_bad, table_bad = embeddings.search_panel("continuous", "pizza", "shipped", {}, "")
    assert status == status_bad == f"PCA of {len(words)} embeddings (d = {emb.shape[1]})"
    assert fig.data[-1].text == ("<b>italian</b>",)
    i = words.index("italian")
    assert list(fig.data[-2].x) == list(pca_2d(emb)[ids[i], 0])  # the rings are the full space's neighbours
    assert matches.value == "italian" and matches.choices == [("italian", "italian")]
    cells = re.findall(r"<td class='emb-nn-word'[^>]*>([^<]*)</td><td class='emb-nn-distance'[^>]*>([^<]*)</td>",
                       table.value)
    assert [w for w, _ in cells] == [words[j] for j in ids[i]]
    assert np.allclose([float(d) for _, d in cells], dist[i], atol=5e-4) and "Euclidean" in table.value
    assert "No word of this model's vocabulary contains “pizza”" in note_bad.value
    assert not matches_bad.visible and not table_bad.visible


@pytest.mark.parametrize("args, message", [
    (("ar", "UMAP", "", "shipped", {}), "family must be one of continuous, seq2seq"),
    (("continuous", "t-SNE", "", "shipped", {}), "projection must be one of UMAP, PCA"),
    (("seq2seq", "PCA", "", "trained here", {}), "you have not trained a seq2seq model"),
])
def test_embedding_map_bad_input_is_a_gr_error(tiny_copy, args, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        list(embeddings.embedding_map(*args))


@pytest.mark.skipif(not (app.CHECKPOINTS / "seq2seq" / PROJECTION_FILE).is_file(), reason="no shipped seq2seq map")
def test_embedding_map_of_the_shipped_seq2seq_model_shows_slot_keys(monkeypatch):
    monkeypatch.delenv(env_name("seq2seq"), raising=False)
    app._load.cache_clear()
    try:
        (fig, status), = list(embeddings.embedding_map("seq2seq", "UMAP", "", "shipped", {}))
    finally:
        app._load.cache_clear()
    assert "cached in" in status
    assert any(t.name.startswith(SLOT_KEY) for t in fig.data)


# ---- browser (the shipped checkpoints) ----------------------------------------------------------------------------

needs_shipped = pytest.mark.skipif(not (app.DEFAULT_CHECKPOINT / PROJECTION_FILE).is_file(),
                                   reason="no shipped continuous checkpoint with its map")


@pytest.fixture
def shipped_app(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(app.CHECKPOINT_ENV, raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    app._load.cache_clear()
    yield app
    app._load.cache_clear()


@needs_shipped
def test_forward_tab_in_browser(shipped_app):
    """The first tab after the lesson: drawn on load at t = 0; the player scrubs and plays t in the browser, the map's points and the
    schedule's cursor following; a schedule picked redraws; a bad sentence is one line; README screenshot."""
    from playwright.sync_api import expect

    with open_in_chromium(shipped_app) as page:
        page.get_by_role("tab", name="Forward noising", exact=True).click()
        tokens = page.locator("#fwd-tokens")
        root = tokens.locator(".tdl-player")
        expect(tokens.locator(".tdl-stage")).to_contain_text("t = 0.00 · sqrt: 0 of 11 words", timeout=60_000)
        points = page.locator("#fwd-map .scatterlayer .point")
        expect(points).to_have_count(208 + 2 * 11)  # the vocabulary, then x0 and x_t of each of the 11 tokens
        expect(page.locator("#fwd-map .textpoint").first).to_be_visible()
        labels = " ".join(page.locator("#fwd-map .textpoint").all_text_contents())
        assert "italian" in labels and "riverside" in labels, labels
        expect(page.locator("#fwd-schedule .js-plotly-plot")).to_be_visible()
        at_zero = page.locator("#fwd-map .scatterlayer").first.inner_html()

        scrub = root.locator(".tdl-scrub")
        scrub.focus()
        scrub.press("End")  # the player's own slider: the browser shows t = 1, the points move there
        expect(tokens.locator(".tdl-stage")).to_contain_text("t = 1.00")
        expect(root.locator(".tdl-label")).to_contain_text("frame 51 of 51")
        assert page.locator("#fwd-map .scatterlayer").first.inner_html() != at_zero
        root.locator(".tdl-play").click()  # from the end, Play starts again at 0
        expect(root).to_have_attribute("data-playing", "true")
        page.wait_for_function("() => Number(document.querySelector('#fwd-tokens .tdl-player').dataset.frame) > 3")
        root.locator(".tdl-play").click()
        expect(root).to_have_attribute("data-playing", "false")
        for _ in range(10):
            root.locator(".tdl-fwd").click()
        expect(tokens.locator(".tdl-stage")).not_to_contain_text("t = 0.00")

        page.locator("#fwd-schedule-choice").get_by_text("linear", exact=True).click()  # the map follows another
        expect(tokens.locator(".tdl-stage")).to_contain_text("linear:", timeout=30_000)
        page.wait_for_timeout(500)  # let plotly finish drawing before the picture
        picture = shot("screenshot-forward.png")
        page.screenshot(path=str(picture), full_page=True)
        assert picture.stat().st_size > 10_000

        sentence = page.locator("#fwd-sentence input")
        sentence.fill("zizzi is a zebra pub .")
        sentence.press("Enter")
        expect(page.get_by_text("words this model never saw: zebra")).to_be_visible(timeout=30_000)
        sentence.fill("zizzi is a cheap pub .")
        sentence.press("Enter")
        expect(tokens).to_contain_text("of 6 words now round", timeout=30_000)  # a typed sentence of one's own


# The boxes of every drawn label of the map, and of the legend and axis titles, in page pixels.
_BOXES = """() => {
    const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const map = document.querySelector('#emb-map');
    return {
        labels: [...map.querySelectorAll('.textpoint text, .annotation-text')].filter((t) => t.textContent).map(
            (t) => [t.textContent, parseFloat(getComputedStyle(t).fontSize), ...box(t)]),
        legend: box(map.querySelector('.legend')),
        titles: [...map.querySelectorAll('.g-xtitle text, .g-ytitle text')].filter((t) => t.textContent).map(box),
    };
}"""


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1


def _neighbour_rows(page) -> list[tuple[str, float]]:
    rows = page.locator("#emb-neighbours tbody tr")
    return [(r.locator(".emb-nn-word").inner_text(), float(r.locator(".emb-nn-distance").inner_text()))
            for r in rows.all()]


@needs_shipped
def test_embeddings_tab_in_browser(shipped_app):
    """At the size a classroom projector shows: labels that do not collide, a search that isolates its matches, the
    neighbour list with distances and no special token, a bad query said once; the PCA legend off the axes."""
    from playwright.sync_api import expect

    ck = app.get_checkpoint()
    vocabulary = embeddings._vocabulary(ck)
    words = vocabulary.words
    with open_in_chromium(shipped_app) as page:
        page.set_viewport_size({"width": 1280, "height": 720})
        page.get_by_role("tab", name="Embeddings").click()
        status = page.locator("#emb-status")
        expect(status).to_contain_text(f"UMAP of {len(words)} embeddings, cached", timeout=60_000)
        traces = page.locator("#emb-map .scatterlayer .trace")
        expect(traces).to_have_count(11)  # 8 slots, function words, punctuation, special tokens
        expect(page.locator("#emb-map .legendtext", has_text="special token (6)")).to_be_visible()
        drawn = page.evaluate(_BOXES)
        labels = drawn["labels"]
        assert len(labels) >= 40 and {t for t, *_ in labels} <= set(words)  # words, many of them
        assert min(size for _, size, *_ in labels) >= 12
        collisions = [(a[0], b[0]) for k, a in enumerate(labels) for b in labels[k + 1:] if _overlap(a[2:], b[2:])]
        assert collisions == []
        page.locator("#emb-map .nsewdrag").first.hover()  # anywhere on the map: the word nearest the cursor
        expect(page.locator("#emb-map .hovertext")).to_contain_text("nearest:")

        # a word whose nearest rows include special tokens: the list leaves them out
        assert set(words[j] for j in nearest_neighbours(vocabulary.emb, 5)[words.index("pub")]) & set(SPECIAL_TOKENS)
        search = page.locator("#emb-search textarea, #emb-search input").first
        search.fill("pub")
        search.press("Enter")
        expect(page.locator("#emb-neighbours")).to_contain_text("nearest to pub", timeout=30_000)
        i = words.index("pub")
        rows = _neighbour_rows(page)
        assert [w for w, _ in rows] == [words[j] for j in vocabulary.near[i]]
        assert not {w for w, _ in rows} & set(SPECIAL_TOKENS)
        assert np.allclose([d for _, d in rows], vocabulary.distance[i], atol=5e-4)
        assert [d for _, d in rows] == sorted(d for _, d in rows)
        expect(page.locator("#emb-neighbours")).to_contain_text("Euclidean")
        expect(page.locator("#emb-map .gtitle")).to_contain_text("'pub' and its 5 nearest")
        assert [t for t, *_ in page.evaluate(_BOXES)["labels"]].count("pub") == 1

        # a prefix: its matches isolated, labelled and listed to pick from; a pick lists that word's neighbours
        search.fill("fr")
        search.press("Enter")
        expected = [words[k] for k in embeddings.find_words(words, "fr")]
        expect(page.locator("#emb-note")).to_contain_text(f"{len(expected)} words of {len(words)} contain “fr”",
                                                          timeout=30_000)
        expect(page.locator("#emb-neighbours")).to_be_hidden()
        expect(page.locator("#emb-map .gtitle")).to_contain_text(f"{len(expected)} matching 'fr'")
        expect(page.locator("#emb-matches label")).to_have_text(expected)
        labelled = {w for t, *_ in page.evaluate(_BOXES)["labels"] for w in t.split(" / ")}  # one spot, one label
        assert labelled == set(expected)  # only the matches carry a label
        page.locator("#emb-matches label", has_text="french").click()
        expect(page.locator("#emb-neighbours")).to_contain_text("nearest to french", timeout=30_000)
        assert [w for w, _ in _neighbour_rows(page)] == [words[j] for j in vocabulary.near[words.index("french")]]

        # a query with no match: one line on the page, no popup, and still one after the map is redrawn
        search.fill("pizza")
        search.press("Enter")
        note = page.locator("#emb-note p")
        expect(note).to_have_text(
            re.compile("^No word of this model's vocabulary contains “pizza”: type one of its"), timeout=30_000)
        expect(page.locator("#emb-matches")).to_be_hidden()
        page.locator("#emb-projection").get_by_test_id("PCA-radio-label").click()
        expect(status).to_contain_text(f"PCA of {len(words)} embeddings", timeout=30_000)
        expect(page.locator("#emb-map .gtitle")).to_contain_text("PCA")
        expect(note).to_have_count(1)
        expect(page.get_by_text("No word of this model's vocabulary")).to_have_count(1)
        expect(page.locator(".toast-body")).to_have_count(0)
        drawn = page.evaluate(_BOXES)
        assert len(drawn["titles"]) == 2 and not any(_overlap(drawn["legend"], t) for t in drawn["titles"])

        page.locator("#emb-projection").get_by_test_id("UMAP-radio-label").click()
        search.fill("ese")
        search.press("Enter")
        page.locator("#emb-matches label", has_text="japanese").click()
        expect(page.locator("#emb-neighbours")).to_contain_text("nearest to japanese", timeout=30_000)
        expect(page.locator("#emb-map .gtitle")).to_contain_text("UMAP")
        expect(page.locator("#emb-map .gtitle")).to_contain_text("'japanese' and its 5 nearest")
        page.wait_for_timeout(500)  # let plotly finish drawing before the picture
        picture = shot("screenshot-embeddings.png")
        page.screenshot(path=str(picture), full_page=True)
        assert picture.stat().st_size > 10_000
