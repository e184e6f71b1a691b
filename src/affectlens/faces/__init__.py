"""Face crops and preprocessing, written once for training, evaluation and the pipeline."""

from affectlens.faces.preprocess import Preprocess, center_square, resize

__all__ = ["Preprocess", "center_square", "resize"]
