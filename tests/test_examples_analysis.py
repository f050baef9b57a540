"""The analysis examples: Fig. 2 (``giv_tsne.py``) and Tables 4/5 (``ablations.py``).

The t-SNE and the separation measures of ``giv_tsne.py`` are checked against slow references
(autograd for the gradient, a per-point loop for k-NN) and on data whose answer is known; both
examples run end to end with ``--preset smoke``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from hairlayers.errors import HairError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _load(name: str):  # the examples are scripts, not a package
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gt = _load("giv_tsne")
ab = _load("ablations")


def _clusters(centres: int, per: int, dim: int, spread: float, seed: int) -> tuple[torch.Tensor, list[str]]:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(centres, dim, generator=g, dtype=torch.float64) * spread
    x = torch.cat([means[c] + torch.randn(per, dim, generator=g, dtype=torch.float64) for c in range(centres)])
    return x, [f"c{c}" for c in range(centres) for _ in range(per)]


# ------------------------------------------------------------------------------------------- t-SNE


def test_kl_gradient_matches_autograd() -> None:
    g = torch.Generator().manual_seed(0)
    for n, dims in ((5, 2), (9, 3)):
        p = torch.rand(n, n, generator=g, dtype=torch.float64)
        p = (p + p.T).fill_diagonal_(0.0)
        p = p / p.sum()
        y = torch.randn(n, dims, generator=g, dtype=torch.float64, requires_grad=True)
        # KL(P || Q) written directly from the definition, pair by pair
        num = torch.stack([torch.stack([1 / (1 + (y[i] - y[j]).pow(2).sum()) if i != j else y.new_zeros(())
                                        for j in range(n)]) for i in range(n)])
        q = num / num.sum()
        kl = sum(p[i, j] * torch.log(p[i, j] / q[i, j]) for i in range(n) for j in range(n) if i != j)
        (expected,) = torch.autograd.grad(kl, y)
        assert torch.allclose(gt.kl_gradient(p, y.detach()), expected, rtol=1e-9, atol=1e-12)


def test_affinities_reach_the_perplexity() -> None:
    x, _ = _clusters(3, 10, 4, 3.0, seed=1)
    for perplexity in (3.0, 8.0):
        p = gt._affinities(gt._sq_distances(x), perplexity)
        assert torch.allclose(p.sum(1), torch.ones(30, dtype=torch.float64))
        assert torch.all(p.diagonal() == 0)
        entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(1)
        assert torch.allclose(entropy.exp(), torch.full((30,), perplexity, dtype=torch.float64), rtol=1e-6)


def test_tsne_keeps_separated_clusters_apart() -> None:
    x, labels = _clusters(4, 15, 10, 12.0, seed=2)
    y = gt.tsne(x, perplexity=10, iters=400, seed=0)
    assert y.shape == (60, 2) and torch.isfinite(y).all()
    assert gt.knn_accuracy(y, labels, k=5) == 1.0
    assert torch.allclose(y.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-8)
    assert torch.equal(y, gt.tsne(x, perplexity=10, iters=400, seed=0))  # deterministic


def test_tsne_rejects_bad_input() -> None:
    with pytest.raises(HairError, match="perplexity"):
        gt.tsne(torch.randn(5, 3), perplexity=4)
    with pytest.raises(HairError, match="at least 3"):
        gt.tsne(torch.randn(2, 3), perplexity=0.5)
    with pytest.raises(HairError, match=r"\(n, d\)"):
        gt.tsne(torch.randn(5), perplexity=1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        gt.tsne([[0.0, 1.0]] * 5, perplexity=1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- separation metrics


def _knn_reference(x: torch.Tensor, labels: list[str], k: int, groups: list[int] | None = None) -> float:
    hits = 0
    for i in range(len(labels)):
        others = [j for j in range(len(labels)) if j != i and (groups is None or groups[j] != groups[i])]
        order = sorted((float((x[i] - x[j]).pow(2).sum()), j) for j in others)[:k]
        votes = Counter(labels[j] for _, j in order)
        top = max(votes.values())
        guess = next(labels[j] for _, j in order if votes[labels[j]] == top)  # nearest among the tied
        hits += guess == labels[i]
    return hits / len(labels)


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_knn_accuracy_matches_loop(k: int) -> None:
    g = torch.Generator().manual_seed(k)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    labels = [f"l{int(v)}" for v in torch.randint(0, 4, (40,), generator=g)]
    assert gt.knn_accuracy(x, labels, k) == pytest.approx(_knn_reference(x, labels, k), abs=1e-12)
    groups = [int(v) for v in torch.randint(0, 6, (40,), generator=g)]
    assert gt.knn_accuracy(x, labels, k, groups=groups) == pytest.approx(_knn_reference(x, labels, k, groups), abs=1e-12)


def test_knn_groups_remove_the_content_confound() -> None:
    # each "content" is a far-apart blob; labels only shift points slightly: plain k-NN finds
    # same-content neighbours (other labels), held-out content finds the same label elsewhere
    g = torch.Generator().manual_seed(9)
    content = torch.randn(8, 4, generator=g, dtype=torch.float64) * 50
    shift = torch.randn(3, 4, generator=g, dtype=torch.float64) * 3
    x = torch.stack([torch.cat([content[c], shift[lab]]) for lab in range(3) for c in range(8)])  # separate dims
    labels = [f"l{lab}" for lab in range(3) for _ in range(8)]
    groups = [c for _ in range(3) for c in range(8)]
    assert gt.knn_accuracy(x, labels, 2) == 0.0
    assert gt.knn_accuracy(x, labels, 1, groups=groups) == 1.0
    with pytest.raises(HairError, match="outside the largest group"):
        gt.knn_accuracy(x, labels, 22, groups=groups)


def test_knn_accuracy_separated_vs_random() -> None:
    x, labels = _clusters(5, 20, 8, 15.0, seed=3)
    assert gt.knn_accuracy(x, labels, 5) == 1.0
    noise = torch.randn(100, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert gt.knn_accuracy(noise, labels, 5) < 0.45  # chance is 0.2
    assert gt.chance_accuracy(labels) == 0.2
    with pytest.raises(HairError, match="one label per point"):
        gt.knn_accuracy(x, labels[:-1], 5)
    with pytest.raises(HairError, match="k must be"):
        gt.knn_accuracy(x, labels, 100)


def test_composite_between_its_parts() -> None:
    g = torch.Generator().manual_seed(5)
    a = torch.randn(12, 6, generator=g, dtype=torch.float64) * 0.1
    b = a[torch.randperm(12, generator=g)] * 0.5 + 4.0
    c = (a + b) / 2
    other = torch.randn(12, 6, generator=g, dtype=torch.float64) * 0.1 - 6.0
    x = torch.cat([a, b, c, other])
    labels = ["dehaze"] * 12 + ["denoise_25"] * 12 + ["haze+noise"] * 12 + ["enhance"] * 12
    r = gt.composite_position(x, labels, "haze+noise", ("dehaze", "denoise_25"))
    assert r["t"] == pytest.approx(0.5, abs=1e-9) and r["off"] == pytest.approx(0.0, abs=1e-9)
    sep = gt.separation(x, labels, k=3, content=[i % 12 for i in range(48)])
    assert sep["labels_knn"] == 1.0 and sep["labels_knn_other_content"] == 1.0 and sep["labels_chance"] == pytest.approx(1 / 3)
    assert sep["families_knn"] == 1.0  # composites are left out of the k-NN numbers
    assert set(sep["composites"]) == {"haze+noise"}


def test_composite_degrade_applies_both() -> None:
    clean = torch.full((3, 32, 32), 0.4)
    g = torch.Generator().manual_seed(0)
    hazy_noisy = gt.composite_degrade(clean, ("dehaze", "denoise_25"), g)
    assert hazy_noisy.shape == clean.shape and 0 <= hazy_noisy.min() and hazy_noisy.max() <= 1
    assert hazy_noisy.mean() > 0.45  # haze brightens towards the airlight (>= 0.7)
    assert hazy_noisy.std() > 0.05  # noise σ25/255 ≈ 0.1 on top


def test_mean_std() -> None:
    assert ab.mean_std([2.0]) == (2.0, 0.0)
    assert ab.mean_std([1.0, math.inf]) == (math.inf, 0.0)
    with pytest.raises(HairError):
        ab.mean_std([])


# ------------------------------------------------------------------------------------- end to end


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT, check=False)


def _finite_numbers(obj: object) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _finite_numbers(x)]
    if isinstance(obj, list):
        return [v for x in obj for v in _finite_numbers(x)]
    return []


@pytest.mark.slow  # ~30 s of CPU, more on a shared machine
def test_giv_tsne_smoke(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("skimage")
    run = _run("giv_tsne.py", "--preset", "smoke", "--composite", "--out", str(tmp_path), "--progress", "off")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "chance" in run.stdout and "step 0" in run.stdout and "UTC" in run.stdout
    saved = torch.load(tmp_path / "givs.pt")
    n = len(saved["labels"])
    assert n == 10 * 6  # 7 single labels + 3 composites, 6 crops each
    assert set(saved["labels"]) >= {"denoise_15", "denoise_25", "denoise_50", "derain", "dehaze", "deblur", "enhance", "rain+noise"}
    assert saved["content"].count("crop0") == 10  # every label and composite uses the same clean crops
    assert saved["givs"].shape[0] == n and torch.isfinite(saved["givs"]).all()
    assert not torch.equal(saved["givs"], saved["givs_step0"])  # training moved the classifier
    for y in saved["tsne"].values():
        assert y.shape == (n, 2) and torch.isfinite(y).all()
    res = json.loads((tmp_path / "giv_tsne.json").read_text())
    for name in ("trained", "step 0"):
        sep = res["separation"][name]
        assert 0 <= sep["labels_knn"] <= 1 and sep["labels_chance"] == pytest.approx(1 / 7)
        assert set(sep["composites"]) == set(gt.COMPOSITES)
        assert 0 <= sep["labels_knn_other_content"] <= 1
    assert all(math.isfinite(v) for v in _finite_numbers(res["separation"]))
    png = (tmp_path / "giv_tsne.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.mark.slow  # five tiny models (hairify runs each twice) train 2 steps each: ~40 s of CPU
def test_ablations_smoke(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("skimage")
    run = _run("ablations.py", "--preset", "smoke", "--splits", "3", "--out", str(tmp_path), "--progress", "off")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "UTC" in run.stdout and "threads" in run.stdout
    res = json.loads((tmp_path / "ablations.json").read_text())
    rows = res["rows"]
    assert [(r["table"], r["name"]) for r in rows] == [(4, n) for n in ab.TABLE4_VARIANTS] + [(5, "3+4")]
    for r in rows:
        assert math.isfinite(r["psnr"]) and -1 <= r["ssim"] <= 1 and r["params"] > 0
        assert r["paper_psnr"] == (ab.PAPER_TABLE4[r["name"]] if r["table"] == 4 else ab.PAPER_TABLE5[3])
    baseline = rows[0]["params"]
    assert all(r["params"] > baseline for r in rows[1:])  # every hairified variant adds parameters
    text = (tmp_path / "ablations.txt").read_text()
    assert "paper, real data, full size" in text and "measured, built-in synthetic benchmark" in text
    png = (tmp_path / "ablations.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_ablations_rejects_bad_splits() -> None:
    with pytest.raises(SystemExit):
        ab.parse_args(["--splits", "0"])
    with pytest.raises(SystemExit):
        ab.parse_args(["--preset", "paper"])  # needs --data-root
    assert [v.name for v in ab.plan_variants(ab.parse_args(["--tables", "5", "--splits", "4", "2", "4"]))] == ["2+5", "4+3"]


@pytest.mark.parametrize("module", [gt, ab], ids=["giv_tsne", "ablations"])
def test_docstring_examples(module) -> None:
    import doctest

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
