"""stance: tag each sentence of defence and security reporting by what it does.

Importing this package is cheap: it never loads torch, transformers, datasets or scikit-learn.
Those are imported inside the functions of `training` and `inference` that use them.
"""

__version__ = "0.1.0"

LABELS = ("threat_assessment", "policy_response", "reassurance", "other")
