"""Reads on API clients: who a token names, which lines a client may see, what it acknowledged."""

from django.db.models import Exists, OuterRef

from results.mes.models import Acknowledgement, ApiClient, hash_token


def api_client_by_token(token: str) -> ApiClient | None:
    """The client (revoked or not) whose token is `token`."""
    return ApiClient.objects.filter(token_hash=hash_token(token)).first()


def api_client_line_ids(client: ApiClient) -> frozenset[int] | None:
    """The ids of the lines the client may see; None when it may see every line."""
    if client.all_lines:
        return None
    return frozenset(client.lines.values_list("id", flat=True))


def acknowledged_by(client: ApiClient) -> Exists:
    """True for inspections the client acknowledged at their current feed position (an
    expression for `.filter()` on Inspection)."""
    return Exists(
        Acknowledgement.objects.filter(
            client=client, inspection=OuterRef("pk"), feed_position=OuterRef("feed_position")
        )
    )
