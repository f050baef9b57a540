"""Every docstring example in the package and every Python block in docs/ runs and is right."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import torch

import hairlayers

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Kernel modules import Triton at module level; their examples are covered by tests/triton.
SKIP_MODULES = ("hairlayers.functional.triton.",)


def _modules() -> list[str]:
    names = ["hairlayers"]
    for info in pkgutil.walk_packages(hairlayers.__path__, prefix="hairlayers."):
        if not info.name.startswith(SKIP_MODULES) and not info.name.endswith("__main__"):
            names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples(module_name: str) -> None:
    module = importlib.import_module(module_name)
    torch.manual_seed(0)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, globs={**vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"


def _doc_pages() -> list[Path]:
    return [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda p: p.name)
def test_docs_python_blocks_run(page: Path) -> None:
    """Fenced ```python blocks of a page run top to bottom in one namespace."""
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    torch.manual_seed(0)
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as error:  # re-raise with the page and block named
            raise AssertionError(f"{page.name}, python block {i} failed: {error!r}") from error
