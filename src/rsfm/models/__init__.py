"""Models: parallel-scaled ViTs registered with timm, MAE, parameter and FLOP accounting."""

from rsfm.models.vit import SIZES, ViTSize, create_encoder  # noqa: F401  (importing registers the timm models)
