import itertools
import math
import random
import re
from collections import defaultdict

import pytest

from diffusion.corpus import BUILTIN, Grammar, builtin_split, char_view, entropy, load_corpus, parse, sample_examples, validate
from diffusion.corpus.grammar import MAX_WORDS, SlotElement, fix_articles
from diffusion.corpus.tokenizer import SPECIAL_TOKENS, TextTokenizer

# A tiny grammar whose whole derivation space can be enumerated: it has the same machinery as the
# built-in one (optional slots, frames, tails, articles) and a deliberate ambiguity (two templates
# yield the same string when the frame's own slot is absent).
TINY = Grammar(
    slots=("name", "eatType", "food", "area"),
    values={"name": ("aromi", "the mill"), "eatType": ("pub", "inn"), "food": ("thai", "italian"), "area": ("riverside",)},
    phrasings={
        ("name", "np"): {"aromi": ("aromi",), "the mill": ("the mill",)},
        ("eatType", "noun"): {"pub": ("pub",), "inn": ("inn", "old inn")},
        ("eatType", "vp"): {"pub": ("is a pub",), "inn": ("is an inn",)},
        ("food", "adj"): {"thai": ("thai",), "italian": ("italian",)},
        ("food", "vp"): {"thai": ("serves thai food", "offers thai food"), "italian": ("serves italian food",)},
        ("area", "pp"): {"riverside": ("by the river",)},
        ("area", "vp"): {"riverside": ("is by the river", "is on the river")},
    },
    frames=("<name:np> is <a> <food:adj> <eat> <area:pp>", "<name:np>"),
    tail_orders=(("food", "area", "eatType"), ("area", "eatType", "food")),
    connectors=("and", "that"),
    p_optional=0.6,
    min_optional=1,
)


def enumerate_sentences(grammar: Grammar) -> dict[str, float]:
    """Brute force: every (MR, template, phrasing) derivation, probabilities summed per sentence."""
    out: dict[str, float] = defaultdict(float)
    opt = grammar.optional_slots
    for present in itertools.product((False, True), repeat=len(opt)):
        slots = [grammar.slots[0]] + [s for s, p in zip(opt, present) if p]
        if len(slots) - 1 < grammar.min_optional:
            continue
        for values in itertools.product(*(grammar.values[s] for s in slots)):
            mr = dict(zip(slots, values))
            p_mr = math.exp(grammar.mr_log_prob(mr))
            for t in grammar.templates:
                for text, p in _realisations(grammar, mr, t):
                    out[text] += p_mr * p / len(grammar.templates)
    return dict(out)


def _realisations(grammar, mr, t):
    """All phrasing choices of one (MR, template), by replaying realise with a scripted rng."""
    class Script:
        def __init__(self, picks):
            self.picks, self.i = picks, 0

        def choice(self, seq):
            c = seq[self.picks[self.i]]
            self.i += 1
            return c

    # count how many choices this derivation makes and their sizes, then take every combination
    sizes = []

    class Probe:
        def choice(self, seq):
            sizes.append(len(seq))
            return seq[0]

    grammar.realise(mr, t, Probe())
    for picks in itertools.product(*(range(n) for n in sizes)):
        text, log_p = grammar.realise(mr, t, Script(picks))
        yield text, math.exp(log_p)


def test_tiny_grammar_probabilities_match_brute_force():
    exact = enumerate_sentences(TINY)
    assert math.isclose(sum(exact.values()), 1.0, rel_tol=1e-9)
    ambiguous = [s for s in exact if len(parse(s, TINY)) > 1]
    assert ambiguous, "the tiny grammar should contain at least one ambiguous sentence"
    for text, p in exact.items():
        v = validate(text, TINY)
        assert v.grammatical, text
        assert math.isclose(math.exp(v.log_prob), p, rel_tol=1e-9), text


def test_tiny_grammar_entropy_matches_brute_force():
    exact = enumerate_sentences(TINY)
    h_exact = -sum(p * math.log(p) for p in exact.values())
    # Monte-Carlo over the sampler's exact log-probabilities converges to the same number
    stream = sample_examples(seed=3, grammar=TINY)
    draws = [-next(stream).log_prob for _ in range(20_000)]
    h_mc = sum(draws) / len(draws)
    se = math.sqrt(sum((d - h_mc) ** 2 for d in draws) / len(draws) ** 2)
    assert abs(h_mc - h_exact) < 4 * se + 1e-3


def test_builtin_shape():
    assert len(BUILTIN.templates) >= 30
    assert 200 <= len(BUILTIN.vocabulary()) <= 400
    lengths = [len(ex.text.split()) for ex in itertools.islice(sample_examples(0, exact=False), 3000)]
    assert 6 <= min(lengths) and max(lengths) <= MAX_WORDS == 40


def test_longest_possible_sentence_fits():
    """Worst case over every template with every slot present and the longest phrasing of each."""
    def longest(slot, role):
        return max(len(o.split()) for opts in BUILTIN.phrasings[(slot, role)].values() for o in opts)

    for t in BUILTIN.templates:
        n = 1  # the final full stop
        for e in t.elements:
            n += longest(e.slot, e.role) if isinstance(e, SlotElement) else (
                longest("eatType", "noun") if e == "<eat>" else 1)
        n += len(t.connector) + sum(longest(s, "vp") for s in t.tail) + max(0, len(t.tail) - 1)
        assert n <= MAX_WORDS, (t.index, n)


def test_validator_accepts_every_sample_with_its_mr():
    for ex in itertools.islice(sample_examples(11), 1000):
        parses = parse(ex.text)
        assert parses, ex.text
        assert all(p.mr == ex.mr for p in parses)
        assert 3 <= len(ex.mr) <= 8


def _perturbations(words: list[str], rng: random.Random):
    i, j = sorted(rng.sample(range(len(words) - 1), 2))
    swapped = list(words)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    dropped = words[:i] + words[i + 1:]
    duplicated = words[:i + 1] + words[i:]
    return {"swap": swapped, "drop": dropped, "duplicate": duplicated}


def test_validator_rejects_perturbed_sentences():
    rng = random.Random(5)
    rejected = defaultdict(int)
    total = 0
    for ex in itertools.islice(sample_examples(12, exact=False), 400):
        words = ex.text.split()
        for kind, bad in _perturbations(words, rng).items():
            if bad == words:
                continue
            total += 1
            rejected[kind] += not validate(" ".join(bad)).grammatical
    # swaps of two equal words or of interchangeable phrasings can stay grammatical; nearly all must fail
    for kind in ("swap", "drop", "duplicate"):
        assert rejected[kind] >= 0.95 * 400 * 0.98, (kind, rejected[kind])


def test_validator_rejects_bad_articles_and_junk():
    assert validate("zizzi is a restaurant .").grammatical is False  # two slots: an MR has at least three
    good = "zizzi is an italian restaurant by the riverside ."
    assert validate(good).grammatical and validate(good).mr == {"name": "zizzi", "food": "italian", "eatType": "restaurant", "area": "riverside"}
    assert not validate("zizzi is a italian restaurant by the riverside .").grammatical
    assert not validate("").grammatical
    assert not validate("completely unrelated words .").grammatical
    assert fix_articles(["a", "inn"]) == ["an", "inn"]


def test_splits_fixed_and_disjoint():
    train, val, test = (builtin_split(s) for s in ("train", "validation", "test"))
    assert len({e.text for e in train} & {e.text for e in test}) == 0
    assert len({e.text for e in val} & {e.text for e in test}) == 0
    assert train[0].text == builtin_split("train")[0].text
    with pytest.raises(ValueError, match="train, validation, test"):
        builtin_split("dev")


def test_entropy_and_char_view():
    e = entropy(2000, seed=1)
    assert 1.0 < e.bits_per_token < 2.5 and e.stderr_bits_per_token < 0.05
    assert e.bits_per_char < e.bits_per_token
    assert "".join(char_view("the mill .")) == "the mill ."


def test_word_and_char_tokenizers_round_trip(tmp_path):
    texts = [ex.text for ex in builtin_split("validation")[:50]]
    for level in ("word", "char"):
        tok = TextTokenizer.train(texts, level)
        assert [tok.id_to_token(i) for i in range(len(SPECIAL_TOKENS))] == list(SPECIAL_TOKENS)
        tok.save(tmp_path / f"{level}.json")
        again = TextTokenizer.load(tmp_path / f"{level}.json", level)
        batch = again.batch(texts[:4], 250)
        assert [again.decode(row) for row in batch] == texts[:4]
        with pytest.raises(ValueError, match="longer than the model's length 3"):
            again.batch(texts[:1], 3)


def test_user_corpora(tmp_path):
    txt = tmp_path / "lines.txt"
    txt.write_text("one two\n\nthree four five\n" * 30, encoding="utf-8")
    c = load_corpus(str(txt))
    assert len(c.train) + len(c.validation) + len(c.test) == 60 and c.validation and c.test

    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("src,tgt\n" + "a b,c d\n" * 40, encoding="utf-8")
    c = load_corpus(str(csv_path), source_column="src", target_column="tgt")
    assert c.train[0] == "c d" and c.sources["train"][0] == "a b"
    with pytest.raises(ValueError, match="no column 'text'; its columns are 'src', 'tgt'"):
        load_corpus(str(csv_path))

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        load_corpus(str(empty))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_corpus(str(latin1))
    with pytest.raises(ValueError, match="accepted: .txt"):
        other = tmp_path / "x.json"
        other.write_text("{}", encoding="utf-8")
        load_corpus(str(other))
    with pytest.raises(ValueError, match="neither 'builtin'"):
        load_corpus(str(tmp_path / "missing.txt"))


def test_hugging_face_dataset_loader_on_local_files(tmp_path):
    """The real `datasets.load_dataset` path, pointed at a local folder: nothing is downloaded."""
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.csv").write_text("text\n" + "".join(f"sentence number {i} .\n" for i in range(40)), encoding="utf-8")
    c = load_corpus(f"hf:{folder}")
    assert c.name.startswith("hf:") and len(c.train) + len(c.validation) + len(c.test) == 40
    with pytest.raises(ValueError, match="no column 'body'"):
        load_corpus(f"hf:{folder}", text_column="body")


def test_the_mr_parser_reads_in_one_pass():
    from diffusion.corpus.grammar import _mr_items, parse_mr

    assert parse_mr(" name [ zizzi ]eatType[coffee  shop] ") == {"name": "zizzi", "eatType": "coffee shop"}
    for text, message in [("name [zizzi", "no closing ']' before the end"), ("name [a [b]", "before the next ["),
                          ("name zizzi", "cannot read the source at 'name zizzi'"), ("]", "cannot read the source"),
                          ("name [zizzi] name [zizzi]", "given twice"), ("x" * 1001, "at most 1,000 are accepted")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_mr(text)
    # The inputs a backtracking pattern took cubic time on (13 s for 3,000 spaces before the length cap existed):
    # the scanner reads each character once, so even a megabyte, far past the cap, ends at once.
    for hostile in ("name [" + " " * 10**6, "name [" + " ] [" * 10**5, "a" * 10**6):
        with pytest.raises(ValueError):
            list(_mr_items(hostile))


def test_user_files_as_spreadsheets_and_editors_save_them(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbftext\n" + b"a short line\n" * 12)  # what spreadsheet programs save
    corpus = load_corpus(str(bom))
    assert corpus.rows == 12 and len(corpus.train) == 10  # rows counts what was given, before the split
    header = tmp_path / "header.csv"
    header.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has a header \\('text', 'label'\\) but no rows under it"):
        load_corpus(str(header))
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty; a CSV needs a header line"):
        load_corpus(str(empty))
    wide = tmp_path / "wide.csv"
    wide.write_text("text\n" + "x" * 200_000 + "\nok\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot be read as CSV at line 2 .*at most 128 kB"):
        load_corpus(str(wide))
    many = tmp_path / "many.txt"
    many.write_bytes(b"a\n" * 1_000_000)  # 2 MB of one-letter rows: refused on the line count, before parsing
    with pytest.raises(ValueError, match="has 1,000,000 lines; at most 20,000 rows are accepted"):
        load_corpus(str(many), max_rows=20_000)
