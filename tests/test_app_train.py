"""The Train tab: a model trained in the browser session, usable in the other tabs, for that session only."""

import json
import os
import re
import time
import types
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
import torch

import app
from conftest import shot
from diffusion import checkpoint
from diffusion.corpus.loaders import load_builtin
from test_app import open_in_chromium
from ui import common
from ui import train as train_tab
from ui import upload as upload_tab
from visualize.train import Reference, Snapshot, loss_curve_figure, progression_html

SCREENSHOT = shot("screenshot-train.png")
CONTINUOUS = "continuous (Diffusion-LM)"
SEQ2SEQ = "seq2seq (DiffuSeq)"
ARDM = "ardm (order-agnostic)"


def _request(session: str = "test-session") -> types.SimpleNamespace:
    return types.SimpleNamespace(session_hash=session)


def _train(label: str = CONTINUOUS, corpus: str = train_tab.BUILTIN, upload: str | None = None, seconds: float = 5,
           models: dict | None = None, session: str = "test-session", **choices) -> list[tuple]:
    """A training as the Train button runs it; `choices`: the column pickers' and the tokenizer's values."""
    return list(train_tab.train_model(label, corpus, upload, seconds, "tiny", 0, models or {}, **choices,
                                      request=_request(session)))


@pytest.fixture
def session_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Session models under a temporary root, so tests never touch the real one."""
    root = tmp_path / "sessions"
    monkeypatch.setattr(common, "SESSION_ROOT", root)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    return root


def test_loss_curve_marks_the_newest_point():
    fig = loss_curve_figure([1, 5, 10], [3.0, 1.0, 0.5], seconds=12, cap_seconds=60, family="sedd")
    assert list(fig.data[0].y) == [3.0, 1.0, 0.5]
    assert fig.data[1].x == (10,) and "0.500" in fig.data[1].name
    assert "12 s of 60 s" in fig.layout.title.text and fig.layout.yaxis.type == "log"
    assert fig.layout.annotations == () and loss_curve_figure([], []).layout.annotations[0].text
    with pytest.raises(ValueError, match="same length"):
        loss_curve_figure([1], [])
    # a recorded curve is drawn behind the live one, dashed, and named in the legend
    ref = loss_curve_figure([1, 5], [3.0, 2.0], reference=Reference([10, 20, 30], [4.0, 2.0, 1.0], "left to right"))
    assert ref.data[0].name == "left to right" and ref.data[0].line.dash == "dash" and list(ref.data[1].y) == [3.0, 2.0]
    assert ref.layout.yaxis.type == "log"


def test_the_recorded_left_to_right_curve_is_the_contrast_where_units_match():
    builtin = load_builtin()
    ref = train_tab._reference("tiny", "sedd", builtin)
    assert ref.name.startswith("left to right, recorded") and len(ref.steps) == len(ref.losses) > 10
    assert ref.losses[-1] < ref.losses[0]
    assert train_tab._reference("tiny", "continuous", builtin) is None  # its loss is not in nats per word
    assert train_tab._reference("tiny", "ar", replace(builtin, builtin=False)) is None  # recorded on the grammar only
    for size in train_tab.SIZES:  # every size has its recording, made by the command it names
        data = json.loads((train_tab.REFERENCES / f"ar-{size}.json").read_text(encoding="utf-8"))
        assert data["size"] == size and f"record_reference({size!r}" in data["command"]


def test_progression_lists_each_snapshot_with_its_step_and_marks_sentences():
    page = progression_html([Snapshot(1, ["racecourse . <b>", "the cafe"], [False, False]),
                             Snapshot(40, ["aromi is a pub .", "x"], [True, False], note="the end")], "intro")
    assert page.count("class='train-snapshot'") == 2 and "after 1 step</b>:" in page
    assert "after 40 steps</b> (the end)" in page
    assert page.count("✓") == 1 and "&lt;b&gt;" in page and "<p>intro</p>" in page  # escaped
    assert "✓" not in progression_html([Snapshot(3, ["aromi is a pub ."])])  # no grammar to ask: no marks
    with pytest.raises(ValueError, match="one verdict per text"):
        progression_html([Snapshot(1, ["a", "b"], [True])])


def test_trained_model_joins_the_session_and_runs_in_the_denoise_tab(session_root: Path):
    outputs = _train()
    status, curve, timeline, preview, models = outputs[-1]
    assert status.startswith("**Done** (time cap reached)") and "Denoise" in status
    assert ("on the CPU" in status) != torch.cuda.is_available()  # where the steps ran
    # the curve holds every logged step (1, then every 5th) up to the last: how many depends on the machine's speed
    last_step = int(re.search(r"(\d+) steps in", status).group(1))
    live = next(trace for trace in curve.data if trace.name == "training loss")
    assert list(live.x) == [1, *range(5, last_step + 1, 5)] and len(live.y) == len(live.x)
    assert curve.data[0] is live  # a squared distance: no left-to-right curve in other units beside it
    # the progression: samples drawn at the first step and at a third and two thirds of the time cap (a point a slow
    # machine has already passed is skipped), then from the final model; each appears as soon as it is drawn
    snapshots = [int(s) for s in re.findall(r"data-step='(\d+)'", timeline)]
    assert 2 <= len(snapshots) <= len(train_tab.TIMELINE_AT) + 1 and snapshots[0] == 1 and snapshots[-1] == last_step
    assert snapshots == sorted(set(snapshots)) and "(the end)" in timeline
    assert timeline.count("<li><code>") == train_tab.TIMELINE * len(snapshots)
    streamed = [o[2] for o in outputs[:-1] if isinstance(o[2], str) and "train-snapshot" in o[2]]
    assert [s.count("train-snapshot") for s in streamed] == list(range(1, len(snapshots)))
    assert preview.count("<li>") == train_tab.PREVIEW
    assert preview.count("grammatical ✓") + preview.count("not grammatical ✗") == train_tab.PREVIEW  # each says why
    path = Path(models["continuous"])
    assert path.is_relative_to(common.session_dir("test-session")) and checkpoint.has_checkpoint(path)
    meta = checkpoint.load(path).meta
    assert meta["command"].startswith("app Train tab") and meta["train_config"]["minutes"] == pytest.approx(5 / 60)
    assert 4.5 <= meta["seconds"] <= 30  # the time cap held (plus the final save)
    assert meta["train_config"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # "auto", resolved

    frames = list(app.denoise(0, 10, "ddpm", True, 0, 1, common.TRAINED, models))
    assert re.search(r"step 10 (/|of) 10", frames[-1][0]["frames"][-1][0])
    # Training again replaces the family's model and removes the old folder.
    again = _train(models=models)[-1][4]
    assert again["continuous"] != models["continuous"] and not path.exists()
    # The session ends: its models go.
    common.forget_models(again)
    assert not Path(again["continuous"]).exists()


def test_a_new_training_replaces_the_model_only_when_it_finishes(session_root: Path):
    models = _train()[-1][4]
    old = Path(models["continuous"])

    def denoise_runs(models: dict) -> bool:
        frames = list(app.denoise(0, 10, "ddpm", True, 0, 1, common.TRAINED, models))
        return bool(re.search(r"step 10 (/|of) 10", frames[-1][0]["frames"][-1][0]))

    # A training cut short (the visitor cancels, the connection drops) leaves the earlier model as it was.
    run = train_tab.train_model(CONTINUOUS, train_tab.BUILTIN, None, 120, "tiny", 1, models, request=_request())
    next(run)
    next(run)
    run.close()
    assert sorted(session_root.glob("*/continuous-*")) == [old] and denoise_runs(models)

    # While the next one trains, the session's model is still the earlier one, and it runs.
    run = train_tab.train_model(CONTINUOUS, train_tab.BUILTIN, None, 120, "tiny", 1, models, request=_request())
    outputs = [next(run), next(run)]
    assert len(list(session_root.glob("*/continuous-*"))) == 2  # the new one is written beside it
    assert denoise_runs(models) and old.exists()
    train_tab.stop_training(_request())
    outputs += list(run)
    assert all(o[4] == gr.skip() for o in outputs[:-1])  # the State changes once, at the end
    new = outputs[-1][4]
    assert outputs[-1][0].startswith("**Done** (stopped)") and new["continuous"] != str(old)
    assert sorted(session_root.glob("*/continuous-*")) == [Path(new["continuous"])] and denoise_runs(new)
    common.forget_models(new)


def test_choosing_a_model_not_trained_yet_says_where_to_train():
    with pytest.raises(gr.Error, match="not trained a continuous model in this session yet"):
        list(app.denoise(0, 10, "ddpm", True, 0, 1, common.TRAINED, {}))
    with pytest.raises(gr.Error, match="model must be one of 'shipped', (.*, )?'trained here'"):
        common.pick_checkpoint("ardm", "mine", {})


def test_stop_ends_training_early_and_keeps_the_model(session_root: Path):
    run = train_tab.train_model(CONTINUOUS, train_tab.BUILTIN, None, 120, "tiny", 0, {}, request=_request())
    next(run)  # started
    assert train_tab.stop_training(_request()).startswith("Stopping")
    status, _, timeline, _, models = list(run)[-1]
    assert status.startswith("**Done** (stopped)") and "(the end)" in timeline
    meta = checkpoint.load(models["continuous"]).meta
    assert meta["seconds"] < 60
    assert train_tab.stop_training(_request()) == "Nothing is training in this session."


def test_one_training_at_a_time(session_root: Path):
    assert train_tab._lock.acquire(blocking=False)  # another visitor's training holds the Space
    train_tab._running["someone-else"] = 1e18
    try:
        with pytest.raises(gr.Error, match="another visitor is training a model; one training runs at a time"):
            _train()
    finally:
        train_tab._running.pop("someone-else")
        train_tab._lock.release()
    assert not train_tab._lock.locked()


def test_an_uploaded_txt_trains_on_its_own_vocabulary(session_root: Path, tmp_path: Path):
    lines = [f"the {c} cat sat on the {m} mat" for c in ("red", "blue", "green", "grey") for m in ("big", "small", "old")]
    upload = tmp_path / "cats.txt"
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outputs = _train(label="ar (left to right)", corpus=train_tab.UPLOAD, upload=str(upload))
    status, curve, _, preview, models = outputs[-1]
    assert [trace.name for trace in curve.data][0] == "training loss"  # the recorded contrast is the grammar's only
    ck = checkpoint.load(models["ar"])
    assert ck.tokenizer.encode("the grey cat") and "grammar" not in preview  # no grammar for a user corpus
    assert "[UNK]" not in ck.tokenizer.tokens(ck.tokenizer.encode("the grey cat sat on the old mat"))
    statuses = [o[0] for o in outputs if isinstance(o[0], str)]
    assert not any("held-out" in s for s in statuses) and f"drawing {train_tab.PREVIEW} samples" in statuses[-2]  # nothing to calibrate
    # ARDM measures its plan after the steps: the status says so between the progress and the samples
    statuses = [o[0] for o in _train(label="ardm (order-agnostic)", corpus=train_tab.UPLOAD, upload=str(upload))
                if isinstance(o[0], str)]
    calibrating = [k for k, s in enumerate(statuses) if "held-out sentences, which plans parallel decoding" in s]
    assert len(calibrating) == 1 and "drawing" in statuses[calibrating[0] + 1] and statuses[-1].startswith("**Done**")


def _descriptions(path: Path) -> tuple[str, int, str]:
    """A CSV as a spreadsheet saves one (a byte-order mark; columns named `mr` and `description`, quoted fields with
    commas, punctuation, three rows per source) with one row far longer than the rest; returns the path, that row's
    line and its description."""
    rows = ["mr,description"]
    for i, (name, food) in enumerate(zip(["Aromi", "Bibimbap", "Cotto", "Fitzbillies", "Zizzi", "Wildwood",
                                          "Alimentum", "Strada", "Giraffe", "Loch Fyne", "Midsummer", "Clowns"],
                                         ["Italian", "Chinese", "English", "French", "Indian", "Japanese"] * 2)):
        mr = f'"name[{name}], food[{food}]"'
        rows += [f'{mr},"{name} serves {food} food, and it\'s cheap."', f'{mr},"If you like {food} food, try {name}!"',
                 f"{mr},{name}: {food} food; near the river."]
        if i == 4:
            long_text = " ".join(f"{name} has {food} food in room {k}." for k in range(15))
            rows.append(f'{mr},"{long_text}"')
            long_line = len(rows)
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(rows) + "\n").encode())
    return str(path), long_line, long_text


def test_a_csv_trains_on_the_columns_picked_from_its_header(session_root: Path, tmp_path: Path):
    upload, long_line, long_text = _descriptions(tmp_path / "restaurants.csv")
    # the pickers list the header's names (the mark before the first one dropped), one for the unpaired families and
    # two for seq2seq, starting on the first columns; a name picked is kept when the family changes
    text, source, target = train_tab.column_pickers(ARDM, train_tab.UPLOAD, upload, None, None, None)
    assert [c for c, _ in text.choices] == ["mr", "description"] and text.value == "mr"
    assert text.visible and not source.visible and not target.visible
    text, source, target = train_tab.column_pickers(SEQ2SEQ, train_tab.UPLOAD, upload, "description", None, None)
    assert not text.visible and text.value == "description" and source.visible and target.visible
    assert (source.value, target.value) == ("mr", "description")
    for corpus, path in ((train_tab.BUILTIN, upload), (train_tab.UPLOAD, None)):  # no file's header to pick from
        assert not any(d.visible for d in train_tab.column_pickers(ARDM, corpus, path, None, None, None))
    txt = tmp_path / "lines.txt"
    txt.write_text("a line\n" * 20, encoding="utf-8")
    assert not any(d.visible for d in train_tab.column_pickers(ARDM, train_tab.UPLOAD, str(txt), "mr", None, None))

    # a name the header does not have (a client may send any): one line naming the columns there are
    with pytest.raises(gr.Error, match="restaurants.csv has no column 'summary' for the text; its columns are 'mr', "
                                       "'description'") as e:
        _train(label=ARDM, corpus=train_tab.UPLOAD, upload=upload, text_column="summary")
    assert e.value.message.endswith("'description'") and str(tmp_path) not in e.value.message
    assert not train_tab._lock.locked()

    # the long row is skipped and counted, by its line and its length, for the unpaired families and for seq2seq
    for label, family, columns in ((ARDM, "ardm", dict(text_column="description")),
                                   (SEQ2SEQ, "seq2seq", dict(source_column="mr", target_column="description"))):
        outputs = _train(label=label, corpus=train_tab.UPLOAD, upload=upload, **columns)
        status, models = outputs[-1][0], outputs[-1][4]
        ck = checkpoint.load(models[family])
        lengths = ck.meta["lengths"]
        assert ck.meta["columns"] == list(columns.values()) and lengths["skipped_rows"] == 1
        tokens = ck.tokenizer.lengths([long_text])[0]
        assert tokens > upload_tab.MAX_LEN and lengths["longest_skipped"] == {"line": long_line, "tokens": tokens}
        note = f"skipped 1 training row longer than the model's length (the longest: line {long_line}, {tokens} tokens)"
        assert status.startswith("**Done**") and note in status
        assert ck.config.seq_len == upload_tab.MAX_LEN and note in outputs[0][0]  # said from the first status on
        if family == "seq2seq":  # the sources keep their own fitted length; the targets have the rest
            assert 0 < ck.config.source_len <= upload_tab.MAX_LEN - 1 - upload_tab.MIN_TARGET


def test_an_upload_trains_with_the_tokenizer_picked(session_root: Path, tmp_path: Path):
    lines = [f"the {c} cat sat on the {m} mat." for c in ("red", "blue", "green", "grey")
             for m in ("big", "old", "new")]
    upload = tmp_path / "cats.txt"
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    models = _train(label="ar (left to right)", corpus=train_tab.UPLOAD, upload=str(upload),
                    tokenizer_kind="bpe")[-1][4]
    ck = checkpoint.load(models["ar"])
    assert ck.tokenizer.kind == "bpe" and ck.meta["tokenizer"]["kind"] == "bpe"
    assert ck.tokenizer.decode(ck.tokenizer.encode("the grey cat")) == "the grey cat"
    # the built-in corpus keeps its own vocabulary whatever the radio says; a kind not offered is one line
    assert upload_tab.tokenizer_choice(train_tab.BUILTIN, "bpe") == upload_tab.tokenizer_choice(train_tab.BUILTIN, None)
    with pytest.raises(gr.Error, match="tokenizer must be one of 'word', 'bpe', got 'sentencepiece'"):
        _train(corpus=train_tab.UPLOAD, upload=str(upload), tokenizer_kind="sentencepiece")


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("name, data, label, message", [
    ("latin1.txt", "café au lait\n".encode("latin-1") * 20, CONTINUOUS, "is not UTF-8 text"),
    ("big.txt", b"a b c\n" * (upload_tab.MAX_UPLOAD_BYTES // 6 + 1), CONTINUOUS, "the Train tab takes files up to 2 MB"),
    ("notes.pdf", b"%PDF-1.4\n", CONTINUOUS, "is not a .txt or .csv file"),
    ("few.txt", b"one line\ntwo lines\n", CONTINUOUS, "needs at least 10"),
    # every row longer than the longest the tab trains: the error names one, by its line and length
    ("long.txt", (" ".join(["word"] * 80) + "\n").encode() * 20, CONTINUOUS,
     r"no training row of long.txt fits the model's length of 64 tokens.*\(the longest: line ([1-9]|1[0-9]|20), 80 "
     r"tokens\)"),
    # seq2seq sources that leave a target no room: the longest named by its line and length
    ("sources.csv", b"source,target\n" + b"".join(b" ".join([word] * 62) + b",a short target\n"
                                                   for word in (b"alpha", b"beta", b"gamma") * 7), SEQ2SEQ,
     r"the sources of sources.csv need 62 tokens .*the longest, line \d+, has 62\)"),
    ("plain.txt", b"a sentence here\n" * 20, SEQ2SEQ, "which has no sources"),
    ("empty.csv", b"", CONTINUOUS, "empty.csv is empty; a CSV needs a header line"),
])
def test_bad_uploads_are_one_line_errors(session_root: Path, tmp_path: Path, name, data, label, message):
    with pytest.raises(gr.Error, match=message) as e:
        _train(label=label, corpus=train_tab.UPLOAD, upload=_write(tmp_path / name, data))
    assert "\n" not in e.value.message and str(tmp_path) not in e.value.message  # no server paths leak
    assert not train_tab._lock.locked()


@pytest.mark.parametrize("kwargs, message", [
    (dict(corpus=train_tab.UPLOAD, upload=None), "no file uploaded"),
    (dict(seconds=1), "time cap \\(seconds\\) must be a whole number from 5 to 300"),
    (dict(label="gpt"), "family must be one of"),
])
def test_bad_settings_are_one_line_errors(session_root: Path, kwargs, message):
    with pytest.raises(gr.Error, match=message):
        _train(**kwargs)


def test_train_then_use_in_browser(session_root: Path):
    """In Chromium: train the default model for 5 s, see the curve, its contrast, the progression and samples, then
    run it in its tab; train again, and the earlier model still runs until the new one is done."""
    from playwright.sync_api import expect

    from test_app_families import wait_for_run

    family = train_tab.FAMILY_CHOICES[train_tab.DEFAULT_FAMILY][0]
    assert family == "ardm"  # its tab is Order-agnostic, below

    def order_runs(steps: int) -> None:
        """The trained model runs in the Order-agnostic tab (a budget of its own per call: the run is a new one)."""
        page.get_by_role("tab", name="Order-agnostic", exact=True).click()
        page.locator("#order-model").get_by_text(common.TRAINED, exact=True).click()
        budget = page.locator("#budget input[type=number]")
        budget.fill(str(steps))
        budget.press("Enter")
        page.locator("#order-run").click()
        wait_for_run(page, "order-text", steps)

    with open_in_chromium(app) as page:
        page.get_by_role("tab", name="Train", exact=True).click()
        status = _train_in_browser(page)
        expect(page.locator("#train-preview li")).to_have_count(train_tab.PREVIEW)
        expect(page.locator("#train-progress .train-snapshot").last).to_contain_text("(the end)")
        expect(page.locator("#train-curve .legendtext").first).to_contain_text("left to right, recorded")
        assert page.locator("#train-curve .gtitle").text_content().startswith(f"{family} training loss")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        order_runs(5)
        first = list(session_root.glob(f"*/{family}-*"))
        assert len(first) == 1

        # A longer training: while it runs, the session's model is still the first one, and it runs.
        page.get_by_role("tab", name="Train", exact=True).click()
        seconds = page.locator("#train-seconds input[type=number]")
        seconds.fill("120")
        seconds.press("Enter")
        page.locator("#train-run").click()
        expect(status).to_contain_text(re.compile(r"step [1-9]"), timeout=60_000)
        order_runs(4)
        assert len(list(session_root.glob(f"*/{family}-*"))) == 2 and first[0].exists()
        page.get_by_role("tab", name="Train", exact=True).click()
        page.locator("#train-stop").click()
        expect(status).to_contain_text("Done (stopped)", timeout=120_000)
        folders = list(session_root.glob(f"*/{family}-*"))
        assert len(folders) == 1 and folders != first  # replaced once finished
        order_runs(3)
        # Closing the tab deletes the model at once (Gradio notices on its next heartbeat), not an hour later.
        page.close()
        deadline = time.monotonic() + 60
        while folders[0].exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not folders[0].exists()


def _train_in_browser(page, seconds: int = 5):
    """Set the time cap, press Train and wait for the end; the status line."""
    from playwright.sync_api import expect

    cap = page.locator("#train-seconds input[type=number]")
    cap.fill(str(seconds))
    cap.press("Enter")
    page.locator("#train-run").click()
    status = page.locator("#train-status")
    expect(status).to_contain_text("Done", timeout=120_000)
    return status


def test_a_csv_upload_in_browser(session_root: Path, tmp_path: Path):
    """In Chromium at 1280x720: upload a CSV, pick its column from its header and a tokenizer, see seq2seq's two
    pickers, then train and read the skipped row in the status; Train and the status stay in view throughout."""
    from playwright.sync_api import expect

    upload, long_line, _ = _descriptions(tmp_path / "restaurants.csv")

    def in_view(selector: str) -> None:
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] + min(box["height"], 40) <= 720, (selector, box)

    with open_in_chromium(app) as page:
        page.evaluate("document.documentElement.classList.remove('tdl-capture')")  # the page as a visitor has it
        page.get_by_role("tab", name="Train", exact=True).click()
        text_column = page.locator("#train-text-column")
        expect(text_column).to_be_hidden()
        page.locator("#train-corpus").get_by_text(train_tab.UPLOAD, exact=True).click()
        page.locator("#train-upload input[type=file]").set_input_files(upload)
        expect(text_column.locator("input")).to_have_value("mr")  # the header's first column
        expect(page.locator("#train-tokenizer")).to_be_visible()
        text_column.locator("input").click()
        page.get_by_role("option", name="description", exact=True).click()
        page.locator("#train-tokenizer").get_by_text("subword (BPE)", exact=True).click()
        for selector in ("#train-run", "#train-status"):
            in_view(selector)

        page.locator("#train-family input").click()
        page.get_by_role("option", name=SEQ2SEQ, exact=True).click()
        expect(page.locator("#train-source-column input")).to_have_value("mr")
        expect(page.locator("#train-target-column input")).to_have_value("description")
        expect(text_column).to_be_hidden()
        page.locator("#train-family input").click()
        page.get_by_role("option", name=ARDM, exact=True).click()
        expect(text_column.locator("input")).to_have_value("description")  # the pick survives the family's change

        status = _train_in_browser(page)
        expect(status).to_contain_text(f"skipped 1 training row longer than the model's length (the longest: line "
                                       f"{long_line}, ")
        for selector in ("#train-run", "#train-status"):
            in_view(selector)
        page.screenshot(path=str(shot("screenshot-train-upload.png")))
        ck = checkpoint.load(next(session_root.glob("*/ardm-*")))  # while the page is open: closing it deletes it
        assert ck.tokenizer.kind == "bpe" and ck.meta["columns"] == ["description"]


def test_a_session_hash_never_names_a_path(session_root: Path):
    root = session_root.resolve()
    for hostile in ("../../../tmp/evil", "/etc", "a/../../b", "\x00", "\udcff", "x" * 10_000, "", None):
        path = common.session_dir(hostile)
        assert path.parent == root and len(path.name) == 32
    assert common.session_dir("a") != common.session_dir("b") and common.session_dir("a") == common.session_dir("a")


def test_a_training_cut_short_leaves_nothing_behind(session_root: Path):
    run = train_tab.train_model(CONTINUOUS, train_tab.BUILTIN, None, 120, "tiny", 0, {}, request=_request())
    next(run)
    next(run)  # training
    assert list(session_root.glob("*/continuous-*"))
    run.close()  # what Gradio does when the visitor cancels or the connection drops
    assert not list(session_root.glob("*/continuous-*")) and not train_tab._lock.locked()
    assert not common.TRAINING


def test_a_closed_tab_stops_its_training_and_deletes_the_model(session_root: Path):
    run = train_tab.train_model(CONTINUOUS, train_tab.BUILTIN, None, 120, "tiny", 0, {}, request=_request())
    next(run)
    train_tab.cancel_training(_request())  # the unload of the tab that trains
    outputs = list(run)
    assert not any(str(o[0]).startswith("**Done**") for o in outputs)
    assert not list(session_root.glob("*/continuous-*")) and not train_tab._lock.locked()


def test_the_sweep_removes_what_no_live_session_uses(session_root: Path):
    past = time.time() - 2 * common.SESSION_TTL_SECONDS

    def folder(*parts: str, old: bool) -> Path:
        path = session_root.joinpath(*parts)
        path.mkdir(parents=True)
        (path / "model.safetensors").write_bytes(b"weights")
        if old:
            for p in (path / "model.safetensors", path, path.parent):
                os.utime(p, (past, past))
        return path

    stale, fresh = folder("gone", "ar-1", old=True), folder("here", "ar-2", old=False)
    busy, export = folder("busy", "sedd-3", old=True), folder("exports", "export-4", old=True)
    common.TRAINING.add(busy)
    try:
        removed = common.sweep_sessions()
    finally:
        common.TRAINING.discard(busy)
    assert set(removed) == {stale.parent, export}
    assert not stale.parent.exists() and not export.exists() and fresh.exists() and busy.exists()
    outside = session_root.parent / "not-ours"
    outside.mkdir()
    common.forget_models({"ar": str(outside)})  # a State naming a folder outside the root: left alone
    assert outside.exists()
