"""Expression classification: model cards, ONNX Runtime inference, the shipped models."""

from affectlens.classify.card import ModelCard
from affectlens.classify.onnx import ExpressionClassifier
from affectlens.classify.registry import DEFAULT_MODEL, builtin_models, get_model, model_id

__all__ = ["DEFAULT_MODEL", "ExpressionClassifier", "ModelCard", "builtin_models", "get_model", "model_id"]
