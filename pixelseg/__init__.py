"""pixelseg: semantic segmentation for learning and shipping. Every pixel gets a class."""
from pixelseg.models.registry import create_model, list_models, register_model

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "register_model", "__version__"]
