"""`engram explore`: a local, offline web page for playing with engram's models.

- `engram.explore.views`: what the page shows, computed by engram's own API (Hopfield recall
  step by step, the capacity curve, a network trained a few epochs at a time), as JSON-ready
  dicts. Pure functions and one small class; no web code.
- `engram.explore.server`: a standard-library HTTP server for the page's own static files
  (``static/``: no CDN, no web fonts) and a small JSON endpoint over `views`.
"""
