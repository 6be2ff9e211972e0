"""Figures that read on a projector at 1280x720: one colour and marker per kind of model (visualize/palette.py), no
text under 12 px, legends clear of the plot and its axis titles, labels that do not pile, the NLL curve framed where
it hugs its floor; and the same measured on the rendered pages in Chromium."""

import ast
import functools
import math
from pathlib import Path

import pytest

import app
from conftest import shot
from diffusion import shipped
from diffusion.families import FAMILIES
from test_app import open_in_chromium
from visualize import palette
from visualize.compare import (MARKER_SIZE, PLOT_HEIGHT, PLOT_WIDTH, quality_speed_figure, scaling_figure,
                               summary_table_html)
from visualize.order import nll_budget_figure, plan_figure

OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"}


# ---- the palette --------------------------------------------------------------------------------------------------

def test_every_kind_has_its_own_colour_and_marker():
    styles = list(palette.STYLES.values())
    assert len({s.colour for s in styles}) == len(styles) and len({s.symbol for s in styles}) == len(styles)
    assert {s.colour for s in styles} <= OKABE_ITO and palette.OTHER.colour not in {s.colour for s in styles}
    assert palette.OTHER.symbol not in {s.symbol for s in styles}
    assert {s.symbol for s in (*styles, palette.OTHER)} <= set(palette.SHAPES)  # HTML draws every marker
    # every shipped checkpoint and every family is a kind of its own; the any-order reading of SEDD is another
    assert all(palette.kind(name) == name for name in shipped.SHIPPED)
    assert all(palette.kind(family) is not None for family in FAMILIES)
    assert palette.kind("sedd-absorb", "any-order · confident order") == "sedd-any-order"
    assert palette.kind("SEDD read as ARDM, planned") == "sedd-any-order"
    # a name that starts with a kind's name: "ardm" is not "ar"; a figure's wording finds its kind
    assert palette.kind("ardm, left to right") == "ardm" and palette.kind("ar, left to right (exact)") == "ar"
    assert palette.kind("true entropy") is None and palette.style("my-model") == palette.OTHER
    svg = palette.marker_svg("ardm")
    assert svg.startswith("<svg") and palette.STYLES["ardm"].colour in svg and 'data-kind="ardm"' in svg


def test_palette_reads_without_plotly():
    """Other views (tokens, cards) read a colour from the palette: its module imports nothing but the standard
    library."""
    tree = ast.parse(Path(palette.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "dataclasses"}


# ---- figures, from their layouts ----------------------------------------------------------------------------------

def _row(name, steps, sampler, rate, seconds, source="meta.json"):
    return dict(name=name, family=name.split("-")[0], steps=steps, sampler=sampler, nll=1.7, nll_method="bound",
                nll_detail="", grammatical_rate=rate, seconds_per_sequence=seconds, train_minutes=10.0, source=source)


# dense on purpose: many series crowd around 0.01 s, as the shipped checkpoints do
ROWS = [_row("sedd-absorb", s, sampler, min(0.9, 0.1 + 0.1 * math.log2(s) / 2), 0.004 * s ** 0.3)
        for s in (8, 16, 32, 64, 128, 256, 1024) for sampler in ("euler", "tweedie")]
ROWS += [_row("sedd-absorb", s, "any-order", 0.1 * s ** 0.5, 0.002 * s ** 0.5) for s in (5, 10, 20, 40)]
ROWS += [_row("ardm", s, "temperature 1.0", 0.1 * s ** 0.5, 0.0025 * s ** 0.5) for s in (5, 10, 20, 40)]
ROWS += [_row("ardm", s, "temperature 1.0", 0.1 * s ** 0.5, 0.003 * s ** 0.5, "bench/x.json") for s in (5, 10, 20)]
ROWS += [_row("ar", 40, "temperature 1.0", 0.99, 0.012), _row("continuous", 200, "ddpm · clamp", 0.56, 0.11),
         _row("continuous-eps", 200, "ddpm · clamp", 0.38, 0.1), _row("seq2seq", 200, "ddpm", 0.62, 0.26),
         _row("sedd-uniform", 64, "tweedie", 0.23, 0.08)]
REPORT = {"device": "cuda", "shipped_sentences": {"ardm": 400_000, "sedd-absorb": 420_000},
          "jobs": [{"recipe": r, "sentences": n, "grammatical_rate": g} for r, n, g in
                   (("ardm", 1_600_000, 0.75), ("ardm", 6_400_000, 0.82), ("sedd-absorb", 5_300_000, 0.79))]}
BUDGETS = list(range(1, 41))
BITS = [1.77 + 2.9 / b ** 1.6 for b in BUDGETS]  # falls from far above to hug its floor, as the shipped ARDM's does
REFERENCES = {"ar, left to right (exact)": 1.678, "true entropy": 1.666}


@functools.cache  # built once for the tests that only read them
def _figures():
    return {"quality": quality_speed_figure(ROWS), "scaling": scaling_figure(REPORT, {"ardm": 0.68}, "scaling.json"),
            "plan": plan_figure([1, 3, 2, 2, 4], ["a", "restaurant", "called", "the", "."], 4, current=2),
            "long plan": plan_figure(list(range(1, 41)), ["restaurant"] * 40, 40),
            "nll": nll_budget_figure(BUDGETS, BITS, REFERENCES, current=10,
                                     fixed_orders={"this model, left to right": 1.739},
                                     related={"sedd-absorb, left to right": 1.744})}


def _font_sizes(node, key=""):
    """Every font size set anywhere in a figure's JSON (a marker's size is no font's)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "size" and "font" in key:
                yield key, v
            elif k != "template":
                yield from _font_sizes(v, k if "font" in k else key)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _font_sizes(v, key)


@pytest.mark.parametrize("name", ["quality", "scaling", "plan", "long plan", "nll"])
def test_every_label_is_at_least_12_px(name):
    fig = _figures()[name]
    assert fig.layout.font.size >= palette.MIN_FONT_SIZE  # what every text left unset inherits
    sizes = list(_font_sizes(fig.to_plotly_json()["layout"])) + list(_font_sizes(fig.to_plotly_json()["data"]))
    assert sizes and all(size >= palette.MIN_FONT_SIZE for _, size in sizes), sizes


def test_legends_stay_clear_of_the_plot_and_its_axis_titles():
    figs = _figures()
    for name in ("quality", "scaling"):
        legend = figs[name].layout.legend
        # right of the x domain (which ends at 1): past the plot, its x title (under it) and its y title (left of it)
        assert legend.x >= 1.0 and legend.xanchor == "left" and legend.orientation == "v", name
    legend = figs["nll"].layout.legend
    # at the figure's own bottom edge: plotly makes room for it under the panels and their axis titles
    assert (legend.yref, legend.y, legend.yanchor) == ("container", 0.0, "bottom")


def test_the_nll_curve_is_framed_where_it_hugs_its_floor():
    fig = _figures()["nll"]
    low, high = fig.layout.yaxis2.range
    start = 10 ** fig.layout.xaxis2.range[0]
    floor = [*REFERENCES.values(), 1.739, 1.744, min(BITS)]
    assert low <= min(floor) and max(floor) <= high  # the references, the points and the curve's floor
    inside = [b for budget, b in zip(BUDGETS, BITS) if budget > start]
    assert inside and all(low <= b <= high for b in inside)  # the curve's tail runs inside the zoom
    assert high - low < (max(BITS) - min(BITS)) / 5  # a zoom: a fraction of the whole fall
    curve = [t for t in fig.data if t.name == "ARDM, planned"]
    assert {(t.xaxis, t.yaxis) for t in curve} == {("x", "y"), ("x2", "y2")}  # the whole fall beside the zoom
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]  # side by side, apart
    assert fig.data[-1].name == "10 steps: " + f"{BITS[9]:.3f}"  # the current budget, last
    colours = {a.text.split(":")[0]: a.font.color for a in fig.layout.annotations}
    assert colours["ar, left to right (exact)"] == palette.STYLES["ar"].colour  # a line naming a family: its colour
    assert curve[0].line.color == palette.STYLES["ardm"].colour
    # a curve that reads whole in one panel keeps one
    flat = nll_budget_figure([1, 2, 4], [2.0, 1.9, 1.8], {"true entropy": 1.66}, current=2)
    assert "xaxis2" not in flat.to_plotly_json()["layout"] and {t.xaxis for t in flat.data} == {"x"}


def test_the_plan_grid_writes_its_words_on_the_axis():
    tokens = ["a", "restaurant", "called", "the", "."]
    fig = plan_figure([1, 3, 2, 2, 4], tokens, 4, current=2)
    assert list(fig.layout.xaxis.ticktext) == tokens and list(fig.layout.xaxis.tickvals) == [0, 1, 2, 3, 4]
    assert fig.data[0].texttemplate is None  # no words squeezed into cells narrower than they are
    assert list(fig.layout.xaxis.autotickangles) == [0, -45, -90]  # turned only as far as the columns need
    assert plan_figure(list(range(1, 41)), ["restaurant"] * 40, 40).layout.height > fig.layout.height


def test_step_labels_do_not_pile_up():
    """Each step label sits beside its point, over no marker and no other label, in the plot area it was placed
    for; the figure keeps every point's steps in its hover all the same."""
    fig = quality_speed_figure(ROWS)
    x_range, y_range = fig.layout.xaxis.range, fig.layout.yaxis.range
    points = [((math.log10(x) - x_range[0]) / (x_range[1] - x_range[0]) * PLOT_WIDTH,
               (y_range[1] - y) / (y_range[1] - y_range[0]) * PLOT_HEIGHT)
              for t in fig.data for x, y in zip(t.x, t.y) if x is not None]
    boxes = []
    for a in fig.layout.annotations:
        x = (a.x - x_range[0]) / (x_range[1] - x_range[0]) * PLOT_WIDTH + a.xshift
        y = (y_range[1] - a.y) / (y_range[1] - y_range[0]) * PLOT_HEIGHT - a.yshift
        w, h = 0.62 * a.font.size * len(a.text), a.font.size
        boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
    assert len(boxes) >= len(fig.data)  # most lines get a label
    for i, b in enumerate(boxes):
        assert 0 <= b[0] and b[2] <= PLOT_WIDTH and 0 <= b[1] and b[3] <= PLOT_HEIGHT
        assert not any(b[0] < c[2] and c[0] < b[2] and b[1] < c[3] and c[1] < b[3] for c in boxes[i + 1:])
        half = MARKER_SIZE / 2
        assert not any(b[0] < x + half and x - half < b[2] and b[1] < y + half and y - half < b[3]
                       for x, y in points)
    assert sum(len(t.x) for t in fig.data if t.x[0] is not None) == len(ROWS)  # every point drawn
    # each kind once in the legend, in its colour and marker; benchmark runs hollow
    legend = {t.name: t for t in fig.data if t.showlegend is not False}
    assert set(legend) == {"sedd-absorb", "sedd-absorb, any-order", "ardm", "ar", "continuous", "continuous-eps",
                           "seq2seq", "sedd-uniform", "hollow: benchmark run"}
    assert legend["sedd-absorb, any-order"].marker.color == palette.STYLES["sedd-any-order"].colour
    assert {t.marker.symbol for t in fig.data if t.name == "ardm"} == {"triangle-up", "triangle-up-open"}


def test_summary_table_has_one_row_per_checkpoint():
    rows = {(r["name"], r["steps"], r["sampler"]): r for r in ROWS}
    best = rows[("sedd-absorb", 1024, "euler")]
    entries = [dict(name="sedd-absorb", default=rows[("sedd-absorb", 64, "tweedie")], best=best),
               dict(name="ar", default=rows[("ar", 40, "temperature 1.0")], best=rows[("ar", 40, "temperature 1.0")]),
               dict(name="seq2seq", default=None, best=None)]
    out = summary_table_html(entries, 1.6662)
    assert out.count("<tr data-checkpoint=") == 3 and "1.666 bits per word" in out
    assert "its default is its best" in out and "not recorded" in out
    assert "1024 steps · euler" in out and f"{best['grammatical_rate']:.2f}" in out


# ---- in Chromium --------------------------------------------------------------------------------------------------

# every text of a rendered plotly figure (its hover layer left out) with its box, size and role
TEXTS = """root => [...root.querySelectorAll('svg text')].filter(e => !e.closest('.hoverlayer')).map(e => {
  const r = e.getBoundingClientRect(), g = e.closest('.xtick, .ytick, .x2tick, .y2tick, .legendtext, .annotation,'
    + ' .gtitle, .xtitle, .ytitle, .x2title, .y2title');
  return {text: e.textContent, size: parseFloat(getComputedStyle(e).fontSize), x: r.x, y: r.y, w: r.width,
          h: r.height, role: g ? g.getAttribute('class').split(' ')[0] : 'other'}; }).filter(t => t.w > 0)"""


def _check_figure(page, selector: str) -> int:
    """Every text of the figure at least 12 px, and no two texts of different roles (legend, titles, labels, another
    axis's ticks) overlapping; one axis's own tick labels are plotly's to space. Returns the number of texts."""
    texts = page.locator(f"{selector} .js-plotly-plot").first.evaluate(TEXTS)
    small = [(t["text"], t["size"]) for t in texts if t["size"] < palette.MIN_FONT_SIZE]
    assert not small, (selector, small)
    piled = [(a["text"], a["role"], b["text"], b["role"]) for i, a in enumerate(texts) for b in texts[i + 1:]
             if not (a["role"] == b["role"] and a["role"].endswith("tick"))
             and a["x"] < b["x"] + b["w"] - 1 and b["x"] < a["x"] + a["w"] - 1
             and a["y"] < b["y"] + b["h"] - 1 and b["y"] < a["y"] + a["h"] - 1]
    assert not piled, (selector, piled)
    return len(texts)


@pytest.mark.skipif(not (app.CHECKPOINTS / "ardm").is_dir(), reason="no shipped checkpoints")
def test_figures_read_at_1280_by_720_in_chromium(monkeypatch):
    """The Compare tab's charts and the Order-agnostic tab's plan and NLL curve as a projector shows them."""
    from playwright.sync_api import expect

    from test_app_compare import use_shipped

    use_shipped(monkeypatch)
    try:
        with open_in_chromium(app) as page:
            page.set_viewport_size({"width": 1280, "height": 720})
            page.get_by_role("tab", name="Compare").click()
            for selector in ("#cmp-chart", "#cmp-scaling"):
                expect(page.locator(f"{selector} .js-plotly-plot .legendtext").first).to_be_visible(timeout=30_000)
                assert _check_figure(page, selector) > 10
            page.screenshot(path=str(shot("figures-compare-1280x720.png")), full_page=True)
            page.get_by_role("tab", name="Order-agnostic").click()
            page.locator("#order-run").click()
            for selector in ("#order-plan", "#order-curve"):
                expect(page.locator(f"{selector} .js-plotly-plot .xtick").first).to_be_visible(timeout=60_000)
                assert _check_figure(page, selector) > 10
            page.locator("#order-plan").scroll_into_view_if_needed()
            page.screenshot(path=str(shot("figures-order-1280x720.png")), full_page=True)
    finally:
        app._load.cache_clear()


def test_mistake_profiles_stack_to_one_per_model_with_each_kind_labelled():
    from diffusion.corpus.mistakes import KINDS
    from ui.compare import mistake_profiles
    from visualize.mistakes import mistake_profile_figure

    entries = [dict(name="sedd-absorb", default=dict(grammatical_rate=0.6,
                                                     mistakes={"repeated_slot": 0.3, "missing_slot": 0.1})),
               dict(name="ar", default=dict(grammatical_rate=1.0, mistakes={})),
               dict(name="continuous", default=dict(grammatical_rate=0.5, mistakes=None)),  # recorded before mistakes
               dict(name="seq2seq", default=None)]
    profiles = mistake_profiles(entries)
    assert [p[0] for p in profiles] == ["sedd-absorb", "ar"]
    fig = mistake_profile_figure(profiles, KINDS)
    assert [t.name for t in fig.data] == ["grammatical", KINDS["repeated_slot"], KINDS["missing_slot"]]
    by_model = {}
    for trace in fig.data:
        for model, share in zip(trace.y, trace.x):
            by_model[model] = by_model.get(model, 0) + share
    assert by_model == {"sedd-absorb": pytest.approx(1.0), "ar": pytest.approx(1.0)}
    assert list(fig.data[0].y) == ["ar", "sedd-absorb"]  # the first model on top
