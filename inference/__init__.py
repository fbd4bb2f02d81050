"""Everything that only reads weights: the predictor and evaluation. Imports `stance`, never `training`.

from inference import Predictor
Predictor.load("models/minilm").predict(["Russia's missiles can reach European cities."])
"""

from inference.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor"]
