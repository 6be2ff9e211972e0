"""The glossary: every term a tab's text marks has a short plain definition, the time convention is in every tab's
"More" text, and the definitions reach the page as hover titles through Gradio's Markdown."""

import re
import types

import gradio as gr
import pytest

from test_app import open_in_chromium
from ui import (clamp, compare, control, denoise, discrete, embeddings, forward, glossary, order, seq2seq,
                train)
from ui.common import explain

# each tab's (intro, "More" text), as its tab() hands them to explain()
TEXTS = {
    "forward": lambda: (forward.INTRO, forward.DETAILS),
    "denoise": lambda: (denoise.DENOISE_INTRO, denoise.details()),
    "embeddings": lambda: (embeddings.INTRO, embeddings.DETAILS),
    "clamp": lambda: (clamp.INTRO, clamp.details()),
    "discrete": lambda: (discrete.INTRO, discrete.details()),
    "order": lambda: (order.ORDER_INTRO, order.details()),
    "seq2seq": lambda: (seq2seq.INTRO, seq2seq.details()),
    "control": lambda: (control.INTRO, control.DETAILS),
    "compare": lambda: (compare.INTRO, compare.DETAILS),
    "train": lambda: (train.INTRO, train.DETAILS),
}


@pytest.mark.parametrize("tab", TEXTS)
def test_every_marked_term_has_a_definition(tab):
    for text in TEXTS[tab]():
        for term in glossary.terms(text):
            assert glossary.definition(term), (tab, term)
        glossed = glossary.gloss(text)
        assert "{{" not in glossed, tab  # every mark was replaced (LaTeX never needs a double brace to open)


@pytest.mark.parametrize("tab", TEXTS)
def test_every_tab_states_the_time_convention_in_the_same_words(tab):
    intro, details = TEXTS[tab]()
    assert glossary.TIME in details
    assert "step i of T" not in intro  # the intro stays plain; the convention lives in "More"


def test_the_tabs_use_most_of_the_glossary_and_nothing_outside_it():
    marked = {glossary.entry(term) for texts in TEXTS.values() for text in texts() for term in glossary.terms(text)}
    marked |= {glossary.entry(term) for term in glossary.terms(glossary.TIME)}
    assert set(glossary.GLOSSARY) - marked == set()  # every defined term is used somewhere


@pytest.mark.parametrize("term", list(glossary.GLOSSARY))
def test_every_definition_is_short_and_plain(term):
    text = glossary.GLOSSARY[term]
    assert 20 <= len(text) <= 200, term
    sentences = [s for s in re.split(r"(?<!\bal)(?<!\be\.g)[.!?](?:\s|$)", text) if s.strip()]
    assert len(sentences) <= 2, (term, sentences)
    assert "$" not in text and "<" not in text and "\\" not in text, term  # plain words: no LaTeX, no HTML
    assert not re.search(r"\d+(\.\d+)?\s*%", text), term  # no measured figures


def test_gloss_defines_a_term_once_and_refuses_an_unknown_one():
    text = glossary.gloss("{{embeddings|embedding}} and {{embedding}} and {{$t$|t}}, {{$T$|T}}")
    assert text.count("<abbr") == 3 and text.count(glossary.define("embedding", "embeddings")) == 1
    assert "and embedding and" in text
    assert glossary.definition("t") != glossary.definition("T")  # the case tells time from the step count
    with pytest.raises(KeyError, match="not in the glossary"):
        glossary.gloss("{{flux capacitor}}")
    assert glossary.define("[MASK]").startswith('<abbr title="A special token that means &#x27;unknown word')


def test_glossary_markdown_lists_every_term():
    text = glossary.glossary_markdown()
    for group, entries in glossary.GROUPS.items():
        assert f"**{group}**" in text
        for term in entries:
            assert f"- **{term}**: " in text


def test_the_definitions_survive_into_the_page():
    """Gradio's Markdown sanitizer keeps <abbr title>, in the intro and in the accordion, LaTeX inside it included,
    and the glossary opens from the accordion."""
    from playwright.sync_api import expect

    def build_demo() -> gr.Blocks:
        with gr.Blocks() as demo:
            explain(discrete.INTRO, discrete.details())
        return demo

    with open_in_chromium(types.SimpleNamespace(build_demo=build_demo)) as page:
        intro = page.locator(".tab-intro abbr")
        expect(intro.first).to_have_attribute("title", glossary.definition("[MASK]"))
        expect(intro.first).to_have_text("[MASK]")
        page.get_by_text("More: the equations").click()
        mdlm = page.locator("abbr", has_text="MDLM")
        expect(mdlm).to_have_attribute("title", glossary.definition("MDLM"))
        expect(page.locator("abbr .katex").first).to_be_visible()  # a symbol defined on hover, drawn by KaTeX
        page.locator(".glossary").get_by_text("Glossary").click()
        expect(page.get_by_text(glossary.definition("concrete score"))).to_be_visible()
