"""Serving a trained run over HTTP: ``aekit serve RUN`` or, in Python,

    from aekit.serve import create_app
    app = create_app("runs/ae", api_key="secret")     # a FastAPI app; run it with any ASGI server

The service takes raw rows as the user has them (JSON, ``.npy`` or, for image runs, PNG) and
answers with the run's anomaly scores (``/score``, ``/detect``), reconstructions in data units
(``/reconstruct``) and codes (``/embed``); the model is the run's scorer (preprocessing and the
score inside), the one ``aekit export`` writes to ONNX. Needs the ``serve`` extra
(``pip install 'aekit[serve]'``: FastAPI and uvicorn).

- ``bodies``: request bodies → checked float32 batches, or a one-line :class:`RequestError`;
- ``engine``: the model of one worker and the queue that merges concurrent requests;
- ``http``: replies (JSON, ``.npy``, PNG), the body limit, the API key and the error handlers;
- ``app``: the FastAPI app and its routes; ``serve`` runs uvicorn.
"""

from __future__ import annotations

from .app import create_app, serve
from .bodies import RequestError

__all__ = ["RequestError", "create_app", "serve"]
