"""`pixelseg annotate`: label a folder of images in the browser, helped by a model.

    from pixelseg.annotate import AnnotationStore, create_app
    from pixelseg.serve import listen, uvicorn_server

    app = create_app(AnnotationStore("data/cats", classes="background,cat"))
    uvicorn_server(app).run(sockets=[listen("127.0.0.1", 8001)])

store.py keeps the folder (the folder format, atomic versioned saves); app.py is the API and the
page (static/). See docs/annotate.md.
"""
from pixelseg.annotate.app import create_app
from pixelseg.annotate.store import AnnotationStore, BadMask, StaleVersion

__all__ = ["AnnotationStore", "BadMask", "StaleVersion", "create_app"]
