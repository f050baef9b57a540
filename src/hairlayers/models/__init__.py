"""The model zoo: the networks of the paper's Table 6, pure PyTorch."""

from ._registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["create_model", "list_models", "model_info", "register_model", "ModelInfo"]
