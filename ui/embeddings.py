"""The Embeddings tab: the learned word embeddings of a continuous-family model on a 2-D map, coloured by word class."""

from __future__ import annotations

import html
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from diffusion.corpus.classes import SPECIAL, class_names, word_class
from diffusion.limits import MAX_WORD_CHARS
from diffusion.projection import (PROJECTION_FILE, load_projection, neighbours_and_distances, pca_2d,
                                  save_projection, umap_2d)
from visualize.embeddings import embedding_map_figure

from .common import SAMPLING, explain, model_radio, pick_checkpoint
from .glossary import TIME
from .inputs import Dropdown, UserError, text_input

FAMILIES = ("continuous", "seq2seq")  # the families with a table of word embeddings
PROJECTIONS = ("UMAP", "PCA")
NEIGHBOURS = 5
MAX_LISTED = 24  # matches offered to pick from; the map isolates them all
_UMAP_LOCK = threading.Lock()  # one UMAP at a time: it is CPU-bound, and a second request then finds the cache

INTRO = r"""
**Embeddings**: the vector Diffusion-LM learns for each word (its {{embedding}}), drawn in 2-D and coloured by the
part of a sentence the word fills. Words that can stand in the same place end up close. Search a word to list its
nearest words.
"""

DETAILS = r"""
**The one equation.** The embeddings are learnt together with the denoiser, from one loss (Li et al. 2022):
$$\mathcal L = \underbrace{\lVert f_\theta(x_t, t) - x_0 \rVert^2}_{\text{denoise}}
\;\underbrace{-\,\log p_\theta(w \mid x_0)}_{\text{round back to } w}, \qquad x_0 \approx \mathrm{EMB}(w).$$
- $w$: the sentence's words; $\mathrm{EMB}(w)$: their {{embeddings|embedding}}, one vector of $d$ numbers per word;
- {{$x_0$|x₀}}: the clean vectors, {{$x_t$|xₜ}}: the same after noise at time $t$ (as in *Forward noising*);
- $f_\theta$: the denoiser, whose guess {{$\hat x_0$|x̂₀}} must land back on $x_0$;
- $p_\theta(w \mid x_0)$: the {{rounding}} softmax, $\propto \exp(-\lVert x_0 - \mathrm{EMB}(w)\rVert^2)$, which must
  pick the right word back.
""" + TIME + r"""
**From the paper.** Words that can stand in the same place of a sentence (two cuisines, two landmarks) are hard to
tell apart from the context, so the loss pulls their vectors together, and pushes apart the words the denoiser must
not confuse (Sec. 4.1 of Li et al. 2022). Clusters by slot are the result.

**Reading the view.**
- *Two maps.* {{UMAP}} (McInnes et al. 2018) keeps neighbourhoods: points close on the map were close in the full
  space, but the distances between clusters and the axes mean little. {{PCA}} is a flat projection on the two
  directions of most variance: distances are honest shadows of the real ones, and it is the plane *Forward
  noising* and *Denoise* draw on. A model trained here has no cached UMAP: PCA is shown at once while UMAP is
  computed (once; saved in the checkpoint as `projection.npz`).
- *Nearest neighbours* are measured in the full $d$-dimensional space, by the distance rounding uses,
  $\lVert \mathrm{EMB}(w) - \mathrm{EMB}(v)\rVert$, not on the map: they show what the 2-D picture hides. Special
  tokens ({{`[PAD]`|[PAD]}}, {{`[MASK]`|[MASK]}}, ...) are never listed: no sentence puts them in a word's place.
- *Labels* are drawn wherever one fits without covering another; a search labels its matches and fades the rest.
- *Colours* (Okabe-Ito, safe for colour-blind readers): each slot of the grammar (a word of a slot's values or of
  phrasings only that slot uses); then greys, told apart by marker shape: function words (shared by several slots
  or by the sentence frames), the slot names a seq2seq {{source}} uses, punctuation, words the grammar does not have
  (a corpus of your own), and special tokens, a dark cross apart from every word class.
"""


@dataclass(frozen=True)
class Vocabulary:
    """A model's embedding table with what the tab draws of it, computed once per loaded model."""

    emb: np.ndarray  # (V, d)
    words: list[str]
    classes: list[str]
    near: np.ndarray  # (V, k) ids of each word's nearest words, special tokens left out
    distance: np.ndarray  # (V, k) their Euclidean distances in the full space


# Keyed by the loaded model: a model dropped with its session takes its table along.
_VOCABULARIES: weakref.WeakKeyDictionary[Any, Vocabulary] = weakref.WeakKeyDictionary()


def _vocabulary(ck: Any) -> Vocabulary:
    """The embedding table, its words, their classes and each word's nearest neighbours with their distances."""
    found = _VOCABULARIES.get(ck.model)
    if found is not None:
        return found
    emb = ck.model.embedding.weight.detach().float().numpy()  # (V, d)
    words = ck.tokenizer.tokens(range(emb.shape[0]))
    classes = [word_class(w) for w in words]
    special = [i for i, c in enumerate(classes) if c == SPECIAL]
    near, distance = neighbours_and_distances(emb, NEIGHBOURS, exclude=special)
    vocabulary = _VOCABULARIES[ck.model] = Vocabulary(emb, words, classes, near, distance)
    return vocabulary


@dataclass(frozen=True)
class Search:
    """What a query found in a vocabulary: `matches` None when there is no query; `chosen` the word whose
    neighbours are shown (the one picked, else the query itself, else a single match); `note` one line of HTML."""

    query: str
    matches: list[int] | None
    chosen: int | None
    note: str


def find_words(words: list[str], query: str) -> list[int]:
    """The ids of the words containing `query` (case-insensitive, a plain substring: no pattern is built from it),
    the word itself first, then those it begins, then the rest, alphabetically within each."""
    q = query.casefold()
    if not q:
        return []
    hits = [i for i, w in enumerate(words) if q in w.casefold()]
    return sorted(hits, key=lambda i: (words[i].casefold() != q, not words[i].casefold().startswith(q), words[i]))


def search(words: list[str], query: str, picked: str | None = None) -> Search:
    """Run a query on a vocabulary; a word that no longer matches (a stale pick, another model) is simply not
    chosen, and a query with no match gets one line saying what is accepted."""
    q = query.strip()
    if not q:
        return Search("", None, None, "")
    matches = find_words(words, q)
    shown = html.escape(q)
    if not matches:
        initial = [w for w in words if w[:1].casefold() == q[:1].casefold() and word_class(w) != SPECIAL]
        examples = initial[:3] or [w for w in words if any(c.isalpha() for c in w) and word_class(w) != SPECIAL][:3]
        return Search(q, [], None, f"No word of this model's vocabulary contains “{shown}”: type one of its "
                                   f"{len(words)} words or its first letters, e.g. "
                                   f"{', '.join(html.escape(w) for w in examples)}")
    names = [words[i] for i in matches]
    if picked in names:
        chosen = matches[names.index(picked)]
    elif names[0].casefold() == q.casefold() or len(matches) == 1:
        chosen = matches[0]
    else:
        chosen = None
    n, size = len(matches), len(words)
    note = f"{n} words of {size} contain “{shown}”" if n > 1 else f"1 word of {size} contains “{shown}”"
    if len(matches) > MAX_LISTED:
        note += f"; the first {MAX_LISTED} are listed"
    if chosen is None:
        note += ": pick one for its nearest words"
    return Search(q, matches, chosen, note)


def neighbour_table(vocabulary: Vocabulary, chosen: int) -> str:
    """The chosen word's nearest words as an HTML table, with their distances in the full space."""
    v = vocabulary
    cell = "padding: 2px 8px; border: none; border-bottom: 1px solid #e5e5e5"
    rows = "".join(
        f"<tr style='border: none'><td style='{cell}'>{k + 1}</td>"
        f"<td class='emb-nn-word' style='{cell}'>{html.escape(v.words[j])}</td>"
        f"<td class='emb-nn-distance' style='{cell}; text-align: right'>{d:.3f}</td>"
        f"<td style='{cell}; color: #666'>{html.escape(v.classes[j])}</td></tr>"
        for k, (j, d) in enumerate(zip(v.near[chosen], v.distance[chosen])))
    head = "".join(f"<th style='{cell}; text-align: {a}'>{h}</th>"
                   for h, a in (("#", "left"), ("word", "left"), ("distance", "right"), ("class", "left")))
    return (f"<p style='margin: 0 0 4px'>nearest to <b>{html.escape(v.words[chosen])}</b> in the full "
            f"{v.emb.shape[1]}-dimensional space, by Euclidean distance (special tokens left out)</p>"
            f"<table class='emb-nn' style='width: 100%; border-collapse: collapse; border: none; margin: 0'>"
            f"<thead><tr style='border: none'>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _cached(path: Path, size: int) -> dict[str, np.ndarray] | None:
    """The cached maps when they fit this vocabulary (a stale or partial file is ignored and recomputed)."""
    maps = load_projection(path)
    if maps is None or any(np.shape(maps.get(k)) != (size, 2) for k in ("umap", "pca")):
        return None
    return maps


def _query(query: Any) -> str:
    """The search text, its length bounded before anything reads it."""
    return text_input(query, "search", MAX_WORD_CHARS).strip()


def embedding_map(family: str, projection: str, query: str | None = None, choice: str | None = None,
                  models: dict[str, str] | None = None, picked: str | None = None) -> Iterator[tuple[Any, str]]:
    """The map of the chosen model's embeddings, with a search's matches isolated and the chosen word's neighbours
    ringed; without a cached UMAP, PCA at once, then UMAP computed and saved."""
    if family not in FAMILIES:
        raise UserError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if projection not in PROJECTIONS:
        raise UserError(f"projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
    query = _query(query)
    ck = pick_checkpoint(family, choice, models, how=" --corpus builtin")
    v = _vocabulary(ck)
    found = search(v.words, query, picked)
    word = v.words[found.chosen] if found.chosen is not None else None
    size = len(v.words)

    def figure(coords: np.ndarray, method: str) -> Any:
        return embedding_map_figure(coords, v.words, v.classes, v.near, class_names(), method=method,
                                    highlight=word, matches=found.matches, query=found.query)

    maps = _cached(ck.path, size)
    if projection == "PCA":
        coords = maps["pca"] if maps else pca_2d(v.emb)
        yield figure(coords, "PCA"), f"PCA of {size} embeddings (d = {v.emb.shape[1]})"
        return
    if maps is not None:
        yield figure(maps["umap"], "UMAP"), f"UMAP of {size} embeddings, cached in {PROJECTION_FILE}"
        return
    yield (figure(pca_2d(v.emb), "PCA"),
           "⏳ no cached UMAP for this model: computing it once (the app's first map takes longest, while UMAP "
           "compiles); PCA meanwhile")
    with _UMAP_LOCK:
        maps = _cached(ck.path, size)  # another session may have computed it while this one waited
        saved = f"computed once and saved in {PROJECTION_FILE}"
        if maps is None:
            try:
                maps = save_projection(ck.path, ck.model.embedding.weight)
            except OSError as e:  # a read-only checkpoint folder: show the map without caching it
                maps = {"umap": umap_2d(v.emb), "pca": pca_2d(v.emb)}
                saved = f"computed (not cached: {e.strerror or e})"
    yield figure(maps["umap"], "UMAP"), f"UMAP of {size} embeddings, {saved}"


def search_panel(family: str, query: str | None, choice: str | None, models: dict[str, str] | None,
                 picked: str | None) -> tuple[Any, Any, Any]:
    """Beside the map: one line on what the query found, the matches to pick from, the chosen word's neighbours.
    Empty when the model cannot be loaded: the map's handler says why, once."""
    try:
        v = _vocabulary(pick_checkpoint(family, choice, models))
        found = search(v.words, _query(query), picked)
    except gr.Error:
        return gr.HTML("", visible=False), gr.Radio(choices=[], value=None, visible=False), gr.HTML("", visible=False)
    listed = [v.words[i] for i in (found.matches or [])[:MAX_LISTED]]
    chosen = v.words[found.chosen] if found.chosen is not None else None
    note = f"<p class='emb-note' style='margin: 0'>{found.note}</p>" if found.note else ""
    table = neighbour_table(v, found.chosen) if found.chosen is not None else ""
    return (gr.HTML(note, visible=bool(note)), gr.Radio(choices=listed, value=chosen, visible=bool(listed)),
            gr.HTML(table, visible=bool(table)))


def _submitted(text: Any) -> tuple[str, str]:
    """A new query, checked on the visitor's own Enter (a UserError then, once); it drops the word picked before."""
    return _query(text), ""


def tab(models: gr.State) -> None:
    """The Embeddings tab; drawn on page load, redrawn when the family, model, map, search or picked word changes."""
    explain(INTRO, DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            query = gr.Textbox(label="search words", placeholder="a word or its first letters, then Enter",
                               max_lines=1, max_length=MAX_WORD_CHARS, elem_id="emb-search")
            note = gr.HTML(elem_id="emb-note", visible=False)
            matches = gr.Radio([], label="matches: pick one for its nearest words", visible=False,
                               elem_id="emb-matches")
            neighbours = gr.HTML(elem_id="emb-neighbours", visible=False)
            projection = gr.Radio(list(PROJECTIONS), value="UMAP", label="map", elem_id="emb-projection",
                                  info="UMAP keeps neighbourhoods; PCA is linear")
            family = Dropdown(list(FAMILIES), value=FAMILIES[0], label="family", elem_id="emb-family",
                                 info="seq2seq shares Diffusion-LM's embedding table")
            choice = model_radio("emb-model", "continuous")
            status = gr.Markdown(elem_id="emb-status")
        with gr.Column(scale=3, min_width=300):
            figure = gr.Plot(label="embedding map", show_label=False, elem_id="emb-map")
    # Set on Enter and on a pick, so the map is not redrawn on every keystroke.
    searched, picked = gr.State(""), gr.State("")
    query.submit(_submitted, query, [searched, picked], api_visibility="private", show_progress="hidden")
    matches.input(lambda word: word or "", matches, picked, api_visibility="private", show_progress="hidden")
    # triggers=None: on page load and whenever an input changes.
    gr.on(None, embedding_map, [family, projection, searched, choice, models, picked], [figure, status],
          trigger_mode="always_last", show_progress="minimal", **SAMPLING)
    gr.on(None, search_panel, [family, searched, choice, models, picked], [note, matches, neighbours],
          trigger_mode="always_last", show_progress="hidden", api_visibility="private")
