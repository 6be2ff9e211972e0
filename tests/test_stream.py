"""Corpora larger than memory: JSON Lines, Parquet and a dataset folder read through `datasets` in streaming mode
(local files only), split by a hash of each row's key, sharded by rank, trained on as they are read."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from diffusion import checkpoint
from diffusion.__main__ import main
from diffusion.config import preset
from diffusion.corpus import builtin_split, load_corpus
from diffusion.corpus.stream import HELD_OUT, Stream, split_of
from diffusion.distributed import Ranks
from diffusion.rows import prepare, stream_batches

ROOT = Path(__file__).resolve().parents[1]
ROWS = [{"text": ex.text, "mr": " ".join(f"{k} [{v}]" for k, v in sorted(ex.mr.items())), "n": i}
        for i, ex in enumerate(builtin_split("train")[:600])]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stream")
    jsonl = folder / "rows.jsonl"
    lines = [json.dumps(r) for r in ROWS]
    lines[3] = json.dumps({"text": "   ", "n": 3})  # a blank row and one without the column are left out
    lines[4] = json.dumps({"n": 4})
    jsonl.write_text("\n".join(lines) + "\n")
    parquet = folder / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet, row_group_size=100)
    dataset = folder / "dataset"
    dataset.mkdir()
    pq.write_table(pa.Table.from_pylist(ROWS[:300]), dataset / "train-00000.parquet")
    pq.write_table(pa.Table.from_pylist(ROWS[300:]), dataset / "train-00001.parquet")
    return {"jsonl": jsonl, "parquet": parquet, "hf": dataset}


def test_every_format_streams_the_same_rows_into_the_same_splits(files):
    corpora = [load_corpus(str(files["jsonl"])), load_corpus(str(files["parquet"])), load_corpus(f"hf:{files['hf']}")]
    for c in corpora:
        assert c.stream is not None and c.columns == ("text",)
    jsonl, parquet, hf = corpora
    assert parquet.rows == hf.rows == 600 and jsonl.rows == 598  # the blank row and the row without text
    assert parquet.test == hf.test and set(jsonl.test) <= set(parquet.test)
    for c in (parquet, hf):  # every row in the split its text's hash names, about 1 in HELD_OUT held out each
        for split in ("train", "validation", "test"):
            assert all(split_of(t) == split for t in c.split(split))
        assert 0 < len(c.validation) < 3 * 600 / HELD_OUT and 0 < len(c.test) < 3 * 600 / HELD_OUT
    assert jsonl.lines["train"][:3] == (1, 2, 3) and 4 not in jsonl.lines["train"]  # rows keep their line


def test_paired_rows_are_held_out_by_source(files):
    c = load_corpus(str(files["parquet"]), source_column="mr", target_column="text")
    held = set(c.sources["test"]) | set(c.sources["validation"])
    assert held and not held & set(c.sources["train"])


def test_a_missing_column_names_the_columns(files):
    for spec in (str(files["jsonl"]), str(files["parquet"]), f"hf:{files['hf']}"):
        with pytest.raises(ValueError, match=r"no column 'body'; its columns are 'text', 'mr', 'n'"):
            load_corpus(spec, text_column="body")
    with pytest.raises(ValueError, match="streamed for training from the command line"):
        load_corpus(str(files["jsonl"]), max_rows=1000)  # the app's uploads take .txt and .csv


def test_each_rank_reads_its_own_shard(files):
    for spec in (str(files["jsonl"]), f"hf:{files['hf']}"):  # one file: every other row; two: a file each
        stream = Stream(spec, ("text",))
        whole = list(stream.rows("train"))
        shards = [list(stream.rows("train", Ranks(r, 2))) for r in (0, 1)]
        assert sorted(shards[0] + shards[1]) == sorted(whole) and not set(shards[0]) & set(shards[1])
        assert min(map(len, shards)) > 0.4 * len(whole)
    # (JSON Lines here: `datasets` waits 5 s after each shuffled pass over Parquet, for an Arrow thread issue)
    stream = Stream(str(files["jsonl"]), ("text",))
    whole = list(stream.rows("train"))
    shuffled = list(stream.rows("train", seed=3))
    assert sorted(shuffled) == sorted(whole) and shuffled != whole
    assert list(stream.rows("train", seed=3)) == shuffled  # the same seed, the same order
    assert list(stream.rows("train", seed=3, epoch=1)) != shuffled


def test_batches_come_from_the_stream_epoch_after_epoch(files):
    corpus = load_corpus(str(files["jsonl"]))
    config, tokenizer = prepare(preset("tiny", family="sedd")[0], corpus)
    batches = stream_batches(corpus.stream, config, tokenizer, 64, seed=0, by_length=True, ranks=Ranks(1, 2))
    seen = [next(batches) for _ in range(30)]  # 30 x 32 rows: more than one epoch of this rank's ~290
    assert all(b.shape[0] == 32 and b.shape[1] <= config.seq_len for b in seen)
    assert all((b[:, -1] != tokenizer.pad_id).any() for b in seen)  # each cut after its longest row
    texts = {tokenizer.decode(row) for b in seen for row in b}
    assert texts <= set(corpus.train) | {r["text"] for r in ROWS}
    assert len(texts) > 250


def test_train_and_evaluate_on_a_stream_and_two_processes_share_it(files, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--family", "sedd", "--preset", "tiny", "--corpus", str(files["jsonl"]), "--batch-size", "16",
            "--device", "cpu", "--out", str(run)]
    assert main([*args, "--steps", "6"]) == 0
    meta = checkpoint.load(run).meta
    assert meta["stream"]["sample_rows"] == 598 and meta["stream"]["tokenizer_rows"] == len(
        load_corpus(str(files["jsonl"])).train)
    assert meta["tokens"] > 6 * 16 * 5
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "diffusion", *args, "--steps", "12"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert checkpoint.load(run).meta["steps"] == 12 and checkpoint.load(run).meta["processes"] == 2
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--num-samples", "4", "--steps", "8"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["corpus"] == str(files["jsonl"]) and figures["nll_bits_per_token"] > 0
    assert torch.isfinite(torch.tensor(figures["nll_bits_per_token"]))
