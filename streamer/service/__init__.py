"""The demo service that ``app.py`` builds: streamer's first user, on the library's public API.

Not part of the library a Flask app installs (the wheel leaves it out; the container image
and a checkout have it): its settings (:mod:`.settings`), its endpoints (:mod:`.views`: the
page, data streams, chat, health, metrics), the OpenAI-compatible API (:mod:`.openai_api`),
the offline echo provider, the OpenAPI document, and the endpoints the tests
(:mod:`.testing`) and the benchmarks (:mod:`.benchmark`) mount.
"""
