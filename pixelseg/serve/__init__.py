"""`pixelseg serve`: a local web page to try a model on photos, and the HTTP API behind it.

    from pixelseg.inference.predictor import Predictor
    from pixelseg.serve import create_app, listen, uvicorn_server

    app = create_app(Predictor.from_checkpoint("runs/demo/run/best.pt"))
    uvicorn_server(app).run(sockets=[listen("127.0.0.1", 8000)])

See pixelseg/serve/app.py for the API and docs/serve.md for the page and curl examples.
"""
from pixelseg.serve.app import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, LOOPBACK_NAMES, create_app, listen, url_of, uvicorn_server

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "LOOPBACK_NAMES", "create_app", "listen", "url_of", "uvicorn_server"]
