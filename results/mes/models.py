"""API clients of the MES integration, and what each has acknowledged."""

import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import models

from inspection.models import Inspection
from lines.models import ProductionLine
from results.mes.constants import TOKEN_PREFIX, Scope


def hash_token(token: str) -> str:
    """Tokens are 256-bit random secrets, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def validate_scopes(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise ValidationError("Scopes are a list of scope names.")
    unknown = sorted(set(value) - set(Scope.values))
    if unknown:
        raise ValidationError(f"Unknown scopes: {', '.join(unknown)}.")


class ApiClient(models.Model):
    """An integration (an MES, a reporting tool) calling the API with a bearer token.

    Only the token's SHA-256 is stored; the token is shown once when made. `all_lines` is an
    explicit choice rather than "no lines chosen means all": otherwise deleting the last line a
    limited client may see would silently let it see every line.
    """

    name = models.CharField(max_length=200, unique=True)
    scopes = models.JSONField(default=list, blank=True, validators=[validate_scopes])
    all_lines = models.BooleanField(default=False, help_text="May see every line, present and future.")
    lines = models.ManyToManyField(
        ProductionLine, blank=True, related_name="+", help_text="The lines it may see, unless it may see all."
    )
    token_prefix = models.CharField(max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"

    def __str__(self) -> str:
        return self.name

    def set_new_token(self) -> str:
        """Give the client a new token and return it; only its digest is kept."""
        prefix = secrets.token_hex(4)
        token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        self.token_prefix = prefix
        self.token_hash = hash_token(token)
        return token

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class Acknowledgement(models.Model):
    """An API client has taken a result: it leaves that client's unacknowledged feed.

    `feed_position` is the position acknowledged: a result that QA queues again re-enters the
    feed at a new position when it finishes anew, and is then unacknowledged again.
    """

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="acknowledgements")
    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="+")
    feed_position = models.BigIntegerField()
    acknowledged_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "inspection"], name="acknowledgement_unique_per_client")
        ]

    def __str__(self) -> str:
        return f"{self.client} acknowledged {self.inspection_id}"
