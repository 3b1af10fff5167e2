"""Pictures: class palettes, overlays, training curves."""
