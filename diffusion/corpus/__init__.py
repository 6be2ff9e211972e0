"""Corpora: the built-in restaurant grammar (with exact probabilities and a validator), user files, tokenizers."""

from .builtin import Entropy, builtin_split, char_view, entropy, sample_examples
from .grammar import BUILTIN, MAX_MR_WORDS, MR_EXAMPLE, SLOTS, TEMPLATES, VALUES, Example, Grammar, linearise_mr, parse_mr
from .loaders import Corpus, load_corpus
from .tokenizer import LEVELS, TextTokenizer
from .validator import Validation, is_grammatical, parse, realised_slots, validate

__all__ = [
    "BUILTIN", "LEVELS", "MAX_MR_WORDS", "MR_EXAMPLE", "SLOTS", "TEMPLATES", "VALUES", "Corpus", "Entropy", "Example", "Grammar", "TextTokenizer", "Validation",
    "builtin_split", "char_view", "entropy", "is_grammatical", "linearise_mr", "load_corpus", "parse", "parse_mr", "realised_slots",
    "sample_examples", "validate",
]
