"""What gunicorn loads: gevent's monkey-patching first, then the app.

Patching must come before anything imports socket, ssl or threading, or those modules keep
blocking versions that would stall every stream in the worker.
"""

from gevent import monkey

monkey.patch_all()

from app import create_app  # noqa: E402  (must follow the patching)

app = create_app()
