"""The model zoo: the networks of the paper's Table 6, pure PyTorch."""

from ._registry import ModelInfo, create_model, list_models, model_info, register_model
from . import promptir, res_hair, restormer  # noqa: F401  (registers the models)
from . import airnet  # noqa: F401  (registers airnet)
from . import transweather  # noqa: F401  (registers transweather)
from . import airnet_variants, transweather_variants  # noqa: F401  (the +HAIR / +PromptIR rows)
from .checkpoints import load_pretrained, zoo_table  # noqa: F401

__all__ = ["create_model", "list_models", "model_info", "register_model", "ModelInfo"]
