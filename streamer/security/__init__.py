"""Opt-in security add-ons for an app set up with :class:`streamer.Streamer`.

The library never imports them; each plugs in through the app or the extension's state:

- :mod:`.auth`: client keys (``Authorization: Bearer``), per-key stream limits, and the owner
  policy of resumable streams (``auth.install(app, config, ...)``);
- :mod:`.tokens`: short-lived, stream-scoped read tokens for ``EventSource``;
- :mod:`.cors`: allowed browser origins (``cors.install(app, origins)``).
"""
