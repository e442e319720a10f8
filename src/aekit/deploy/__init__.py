"""Deploying a run: one module that takes raw rows and returns the anomaly score, the
reconstruction in data units and the code (:class:`RunScorer`), exported to ONNX or
``torch.export`` and checked against aekit (:func:`export`), and loaders for the exported
files (:func:`load_onnx`, :func:`load_pt2`).

    import aekit
    aekit.export("runs/ae", "ae.onnx")                       # preprocessing and score inside
    scorer = aekit.deploy.load_onnx("ae.onnx")
    scorer.run(rows)["score"]                                 # = aekit detect's scores
"""

from __future__ import annotations

from .export import FORMATS, check_format, export
from .runtime import OnnxScorer, Pt2Scorer, load_onnx, load_pt2
from .scorer import OUTPUTS, SCORE_DEFINITIONS, Preprocess, RunScorer, check_outputs

__all__ = ["FORMATS", "OUTPUTS", "SCORE_DEFINITIONS", "OnnxScorer", "Preprocess", "Pt2Scorer", "RunScorer",
           "check_format", "check_outputs", "export", "load_onnx", "load_pt2"]
