"""The Start here tab: a lesson a teacher can walk a class through, each step opening the tab it belongs to."""

import gradio as gr

import app
from conftest import shot
from test_app import open_in_chromium
from ui import lesson


def test_every_step_is_wired_to_the_tab_it_belongs_to():
    demo = app.build_demo()
    by_id = lesson._by_id(demo)
    tab_ids = {b.id for b in demo.blocks.values() if isinstance(b, gr.Tab)}
    triggers = {(t[0], t[1]) for fn in demo.fns.values() for t in fn.targets}
    for step in lesson.STEPS:
        assert step.tab in tab_ids, step.slug
        assert (by_id[f"lesson-try-{step.slug}"]._id, "click") in triggers
        if step.shows:  # Show me runs the event that fills the tab's own view
            assert (by_id[f"lesson-show-{step.slug}"]._id, "click") in triggers
            assert lesson._run_of(demo, by_id[step.shows]).fn is not None
    assert [s.slug for s in lesson.STEPS][0] == "roads" and lesson.STEPS[-1].tab == "train"


def _tab_selected(page, name: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute("aria-selected", "true")


def test_walk_the_lesson_and_try_every_step():
    from playwright.sync_api import expect

    with open_in_chromium(app) as page:
        page.wait_for_selector("#lesson-steps")
        _tab_selected(page, "Start here")
        page.screenshot(path=str(shot("screenshot-start.png")))
        for number, step in enumerate(lesson.STEPS, 1):
            page.get_by_role("tab", name="Start here", exact=True).click()
            if number > 1:  # the previous step's Next opens this one
                page.locator(f"#lesson-next-{lesson.STEPS[number - 2].slug}").click()
            _tab_selected(page, f"{number} · {step.title}")
            if step.slug == "order":  # one live run in the lesson itself: a parallel decoding, few steps
                page.locator(f"#lesson-show-{step.slug}").click()
                page.wait_for_function(
                    """() => { const r = document.querySelector('#lesson-out-order .tdl-player');
                    return r && !r.classList.contains('tdl-live') && Number(r.dataset.frames) >= 2; }""",
                    timeout=120_000)
            page.locator(f"#lesson-try-{step.slug}").click()
            _tab_selected(page, step.label)
            if step.slug == "order":  # the step's own setting reached the tab's control
                expect(page.locator("#budget input[type=number]")).to_have_value(str(step.settings["budget"]))


def test_every_show_me_ends_with_the_tabs_whole_run():
    """Each step's Show me, as its button calls it: the tab's own run (a generator, or one plain view), ending with
    the whole run for the step's player, its figures not followed (they are on the tab's page, not the lesson's)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    demo = app.build_demo()
    by_id = lesson._by_id(demo)

    async def last(show):
        value = None
        async for value in show():
            pass
        return value

    for step in (s for s in lesson.STEPS if s.shows):
        run = lesson._run_of(demo, by_id[step.shows])
        show = lesson._show(run.fn, list(run.inputs), step.settings)
        with ThreadPoolExecutor(1) as pool:  # a loop of its own: Playwright may hold this thread's
            value = pool.submit(asyncio.run, last(show)).result()
        if step.shows == "cmp-results":
            assert "grammatical" in value, step.slug  # the families' cards, each with its verdict
        else:
            assert not value["live"] and len(value["frames"]) >= 2 and value["linked"] == [], step.slug
        if "budget" in step.settings:  # the step's own setting reached the run: the prior and each planned step
            assert len(value["frames"]) == step.settings["budget"] + 1
