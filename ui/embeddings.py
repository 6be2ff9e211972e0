"""The Embeddings tab: the learned word embeddings of a continuous-family model on a 2-D map, coloured by word class."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from diffusion.corpus.classes import class_names, word_class
from diffusion.limits import MAX_WORD_CHARS
from diffusion.projection import (PROJECTION_FILE, load_projection, nearest_neighbours, pca_2d, save_projection,
                                  umap_2d)
from visualize.embeddings import embedding_map_figure

from .common import SAMPLING, explain, model_radio, pick_checkpoint
from .inputs import UserError, text_input

FAMILIES = ("continuous", "seq2seq")  # the families with a table of word embeddings
PROJECTIONS = ("UMAP", "PCA")
NEIGHBOURS = 5
_UMAP_LOCK = threading.Lock()  # one UMAP at a time: it is CPU-bound, and a second request then finds the cache

INTRO = r"""
The **learned word embeddings** $\mathrm{EMB}(w) \in \mathbb R^d$ that Diffusion-LM noises and rounds back to
(trained jointly with the denoiser: $\mathcal L = \mathcal L_{\text{simple}} - \log p_\theta(w \mid x_0)$),
drawn in 2-D and coloured by the slot of the built-in grammar each word realises. Hover a point for its nearest
words.
"""

DETAILS = r"""
**Why the embeddings organise.** Rounding is a softmax over $-\lVert x_0 - \mathrm{EMB}(w)\rVert^2$, and the
denoiser must predict $x_0$ from a noisy $x_t$. Words that can stand in the same place of a sentence (two cuisines,
two landmarks) are hard to tell apart from context, so the end-to-end objective pulls them together and pushes apart
words the denoiser must not confuse (Sec. 4.1 of Li et al. 2022). Clusters by slot are the result.

**Two maps.** *UMAP* (McInnes et al. 2018) keeps neighbourhoods: close points were close in $\mathbb R^d$, but
distances between clusters and the axes mean little. *PCA* is the linear projection on the two directions of most
variance: distances are honest shadows of the real ones, and it is the plane the Forward noising tab draws on.
A model trained here has no cached UMAP: PCA is shown at once while UMAP is computed (once; saved in the
checkpoint as `projection.npz`).

**Nearest neighbours** are computed in the full $d$-dimensional space, not on the map, so they show what the 2-D
picture hides. **Colours** (Okabe-Ito, safe for colour-blind readers): each slot of the grammar (a word of a slot's
values or of phrasings only that slot uses), then in greys by marker shape: function words (shared by several
slots or by the sentence frames), the MR slot names a seq2seq source uses, punctuation, special tokens, and words
the grammar does not have (a corpus of your own).
"""


def _vocabulary(ck: Any) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """The embedding table (V, d), its words, their classes and each word's nearest neighbours (V, k)."""
    emb = ck.model.embedding.weight.detach().float().numpy()  # (V, d)
    words = ck.tokenizer.tokens(range(emb.shape[0]))
    return emb, words, [word_class(w) for w in words], nearest_neighbours(emb, NEIGHBOURS)


def _cached(path: Path, size: int) -> dict[str, np.ndarray] | None:
    """The cached maps when they fit this vocabulary (a stale or partial file is ignored and recomputed)."""
    maps = load_projection(path)
    if maps is None or any(np.shape(maps.get(k)) != (size, 2) for k in ("umap", "pca")):
        return None
    return maps


def _highlight(word: str | None, words: list[str]) -> tuple[str | None, str]:
    """The word to ring, or None; with a note when it is not in the vocabulary (a warning, not an error: the
    map is still worth drawing)."""
    word = text_input(word, "highlighted word", MAX_WORD_CHARS).strip()
    if not word:
        return None, ""
    if word not in words:
        note = f"{word!r} is not in this model's vocabulary of {len(words)} tokens; type one word of it"
        gr.Warning(note)
        return None, f" · {note}"
    return word, ""


def embedding_map(family: str, projection: str, highlight: str | None, choice: str | None,
                  models: dict[str, str] | None) -> Iterator[tuple[Any, str]]:
    """The map of the chosen model's embeddings; without a cached UMAP, PCA at once, then UMAP computed and saved."""
    if family not in FAMILIES:
        raise UserError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if projection not in PROJECTIONS:
        raise UserError(f"projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
    ck = pick_checkpoint(family, choice, models, how=" --corpus builtin")
    emb, words, classes, near = _vocabulary(ck)
    word, note = _highlight(highlight, words)
    if word is not None:
        note = f" · nearest to **{word}**: {', '.join(words[j] for j in near[words.index(word)])}"

    def figure(coords: np.ndarray, method: str) -> Any:
        return embedding_map_figure(coords, words, classes, near, class_names(), method=method, highlight=word)

    maps = _cached(ck.path, len(words))
    if projection == "PCA":
        coords = maps["pca"] if maps else pca_2d(emb)
        yield figure(coords, "PCA"), f"PCA of {len(words)} embeddings (d = {emb.shape[1]}){note}"
        return
    if maps is not None:
        yield figure(maps["umap"], "UMAP"), f"UMAP of {len(words)} embeddings, cached in {PROJECTION_FILE}{note}"
        return
    yield (figure(pca_2d(emb), "PCA"),
           f"⏳ no cached UMAP for this model: computing it once (about 20 s for the app's first map, while UMAP "
           f"compiles; under a second after); PCA meanwhile{note}")
    with _UMAP_LOCK:
        maps = _cached(ck.path, len(words))  # another session may have computed it while this one waited
        saved = f"computed once and saved in {PROJECTION_FILE}"
        if maps is None:
            try:
                maps = save_projection(ck.path, ck.model.embedding.weight)
            except OSError as e:  # a read-only checkpoint folder: show the map without caching it
                maps = {"umap": umap_2d(emb), "pca": pca_2d(emb)}
                saved = f"computed (not cached: {e.strerror or e})"
    yield figure(maps["umap"], "UMAP"), f"UMAP of {len(words)} embeddings, {saved}{note}"


def tab(models: gr.State) -> None:
    """The Embeddings tab; drawn on page load, redrawn when the family, model, map or highlighted word changes."""
    explain(INTRO, DETAILS)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            family = gr.Dropdown(list(FAMILIES), value=FAMILIES[0], label="family", elem_id="emb-family",
                                 info="seq2seq shares Diffusion-LM's embedding table")
            choice = model_radio("emb-model")
            projection = gr.Radio(list(PROJECTIONS), value="UMAP", label="map", elem_id="emb-projection",
                                  info="UMAP keeps neighbourhoods; PCA is linear")
            highlight = gr.Textbox(label="highlight a word", placeholder="e.g. italian, then Enter", max_lines=1,
                                   max_length=MAX_WORD_CHARS,
                                   elem_id="emb-highlight")
            status = gr.Markdown(elem_id="emb-status")
        with gr.Column(scale=3, min_width=300):
            figure = gr.Plot(label="embedding map", show_label=False, elem_id="emb-map")
    highlighted = gr.State("")  # set on Enter, so the map is not redrawn on every keystroke
    highlight.submit(lambda text: (text or "").strip(), highlight, highlighted, api_visibility="private",
                     show_progress="hidden")
    # triggers=None: on page load and whenever an input changes.
    gr.on(None, embedding_map, [family, projection, highlighted, choice, models], [figure, status],
          trigger_mode="always_last", show_progress="minimal", **SAMPLING)
