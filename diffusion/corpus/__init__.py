"""Corpora: the built-in restaurant grammar (with exact probabilities and a validator), user files, tokenizers."""

from .builtin import Entropy, builtin_split, char_view, entropy, sample_examples
from .grammar import BUILTIN, SLOTS, TEMPLATES, VALUES, Example, Grammar, linearise_mr
from .loaders import Corpus, load_corpus
from .tokenizer import LEVELS, TextTokenizer
from .validator import Validation, is_grammatical, parse, validate

__all__ = [
    "BUILTIN", "LEVELS", "SLOTS", "TEMPLATES", "VALUES", "Corpus", "Entropy", "Example", "Grammar", "TextTokenizer", "Validation",
    "builtin_split", "char_view", "entropy", "is_grammatical", "linearise_mr", "load_corpus", "parse",
    "sample_examples", "validate",
]
