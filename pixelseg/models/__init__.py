"""Segmentation networks. Importing this package registers every architecture by name."""
from pixelseg.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
