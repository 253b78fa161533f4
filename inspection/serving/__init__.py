"""The servers' edges, before a request reaches a view: what daphne and the ingest server check at
the headers (gate.py, daphne.py), who may read /metrics and /ready (private.py), CORS for the
upload door (cors.py), and WebSocket paths that match no route (websocket.py)."""
