"""The model zoo: the networks of the paper's Table 6, pure PyTorch.

Where things live: the registry (:mod:`._registry`: ``register_model``, ``model_info``,
``paper_table6``), how builders resolve model presets and check images (:mod:`._builder`),
loading the authors' released weights (:mod:`.pretrained`), one module per architecture.
"""

import sys

from ._registry import ModelInfo, create_model, list_models, model_info, paper_table6, register_model
from . import promptir, res_hair, restormer  # noqa: F401  (registers the models)
from . import airnet  # noqa: F401  (registers airnet)
from . import transweather  # noqa: F401  (registers transweather)
from . import airnet_variants, transweather_variants  # noqa: F401  (the +HAIR / +PromptIR rows)
from . import pretrained
from .pretrained import load_pretrained, read_checkpoint

# The old module path of the loader (renamed so it no longer reads like training checkpoints):
# ``import hairlayers.models.checkpoints`` keeps working, as the same module.
sys.modules[__name__ + ".checkpoints"] = pretrained

__all__ = [
    "ModelInfo",
    "create_model",
    "list_models",
    "load_pretrained",
    "model_info",
    "paper_table6",
    "read_checkpoint",
    "register_model",
]


def __getattr__(name: str):
    if name == "zoo_table":
        raise AttributeError(
            "hairlayers.models.zoo_table moved to the docs tooling: docs/make_zoo.py renders the "
            "zoo tables from the registry (model_info, paper_table6)"
        )
    if name == "checkpoints":
        return pretrained
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
