"""Everything that changes weights: the fine-tuning loop, the TF-IDF baseline, cross-validation.

Imports `stance`, never `inference`.
"""

from training.api import train_model

__all__ = ["train_model"]
