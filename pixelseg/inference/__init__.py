"""Using a trained model: prediction at the image's own size, in PyTorch or ONNX Runtime."""
from pixelseg.inference.loading import load_predictor
from pixelseg.inference.predictor import Predictor

__all__ = ["Predictor", "load_predictor"]
