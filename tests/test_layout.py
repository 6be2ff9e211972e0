"""The package's shape: imports run one way (no circle, nothing in diffusion/ imports the app, gradio or the
benchmarks), and the command line stays small."""

import argparse
import ast
from pathlib import Path

from conftest import ROOT
from diffusion.__main__ import build_parser

PACKAGE = ROOT / "diffusion"
MAX_OPTIONS = 53  # --seeds: the rates over seeds each tab shows under Run; a user corpus's --tokenizer and
# --normalise, sample --source-file and --output, evaluate --corpus and --split; train --precision (bf16 on GPUs)


def import_graph() -> dict[str, set[str]]:
    """module -> the modules it imports (top-level, in functions, or for type checking alike): diffusion's own, and
    any of bench, ui, app or gradio."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                candidates = [module, *(f"{module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            for c in candidates:
                if c in modules and c != name:
                    deps.add(c)
                elif c.split(".")[0] in ("bench", "ui", "app", "gradio"):
                    deps.add(c)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v] & graph.keys():
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_imports_run_one_way():
    graph = import_graph()
    assert len(graph) > 30 and "diffusion.sedd" in graph["diffusion.anyorder"]  # the graph is read, not empty
    assert cycles(graph) == []
    upward = sorted((m, d) for m, deps in graph.items() for d in deps if d.split(".")[0] != "diffusion")
    assert upward == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def options() -> dict[str, list[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [a.option_strings[0] for a in p._actions if a.option_strings and a.dest != "help"]
            for name, p in sub.choices.items()}


def test_the_command_line_stays_small_and_names_one_idea_once():
    counted = options()
    assert set(counted) == {"train", "train-classifier", "sample", "evaluate"}
    assert sum(map(len, counted.values())) <= MAX_OPTIONS, counted
    # one name per idea: what two commands share is spelled the same in both
    assert "--num-samples" in counted["sample"] and "--num-samples" in counted["evaluate"]
    assert not any(flag in ("--num", "--no-clamp", "--candidates") for flags in counted.values() for flag in flags)
