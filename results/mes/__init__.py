"""The MES side of results: API clients (scoped, line-limited, hashed tokens), their
authentication, permissions and throttle, and acknowledgements of results per client."""
