"""Data: named data sets, file readers, preprocessing, text and tokens, and the :class:`Data` container."""

from .bundle import Data, as_data, check_array, split_indices
from .datasets import describe, load, names
from .files import from_arrays, load_file
from .preprocess import Preprocessor
from .readers import register_reader
from .series import Series, auto_window, read_series, read_ts
from .text import TextData, read_text
from .tokens import Encoded, Tokenizer

__all__ = ["Data", "as_data", "check_array", "describe", "from_arrays", "load", "load_file", "names", "Preprocessor",
           "register_reader", "split_indices", "Series", "read_series", "auto_window", "read_ts",
           "TextData", "read_text", "Tokenizer", "Encoded"]
