"""Using a trained model: prediction at the image's own size."""
from pixelseg.inference.predictor import Predictor

__all__ = ["Predictor"]
