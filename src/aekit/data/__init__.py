"""Data: named data sets, file readers, preprocessing, and the :class:`Data` container."""

from .bundle import Data, as_data, check_array
from .datasets import describe, load, names
from .preprocess import Preprocessor

__all__ = ["Data", "as_data", "check_array", "describe", "load", "names", "Preprocessor"]
