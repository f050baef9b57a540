"""Data-parallel training under torchrun: 2 CPU processes (gloo) agree with each other and with
one process that trains on the same global batches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

SRC = Path(__file__).resolve().parents[1] / "src"

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from hairlayers.train import TrainConfig, dist_info, train

    def data():
        g = torch.Generator().manual_seed(5)
        clean = torch.rand(8, 3, 10, 10, generator=g)
        noisy = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
        return [(noisy[i], clean[i], "denoise_25") for i in range(8)]

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.GELU(), torch.nn.Conv2d(4, 3, 1))

    batch, out = int(sys.argv[1]), sys.argv[2]
    net = model()
    result = train(net, data(), TrainConfig(steps=3, batch_size=batch, lr=1e-2, progress="off", log_every=1))
    info = dist_info()
    torch.save({"state": net.state_dict(), "world": info.world_size, "losses": [r["loss"] for r in result.history]},
               f"{out}/rank{info.rank}.pt")
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow  # ~20-40 s on 2 shared cores: three Python processes import torch
def test_two_process_ddp_matches_single_process(tmp_path: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    (tmp_path / "ddp").mkdir()
    (tmp_path / "single").mkdir()
    ddp_cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), "2", str(tmp_path / "ddp")]
    single_cmd = [sys.executable, str(script), "4", str(tmp_path / "single")]
    # both runs at once: the test is dominated by process start-up
    procs = [subprocess.Popen(c, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in (ddp_cmd, single_cmd)]
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output[-4000:]

    r0, r1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt") for r in (0, 1))
    one = torch.load(tmp_path / "single" / "rank0.pt")
    assert r0["world"] == r1["world"] == 2 and one["world"] == 1
    for key, p0 in r0["state"].items():
        assert torch.equal(p0, r1["state"][key]), f"ranks disagree on {key}"
        # DDP averages the two half-batch gradients = the full-batch gradient, up to rounding
        torch.testing.assert_close(p0, one["state"][key], rtol=1e-4, atol=1e-5)
    assert r0["losses"] == r1["losses"]  # recorded losses are averaged over ranks
    torch.testing.assert_close(torch.tensor(r0["losses"]), torch.tensor(one["losses"]), rtol=1e-4, atol=1e-6)
