"""Staff who may only look at API tokens never see one whole: with it they could act as the MES."""

import pytest
from rest_framework.authtoken.models import Token

from tests.users import make_user, signed_in, viewer

pytestmark = pytest.mark.django_db

URL = "/admin/authtoken/tokenproxy/"


def test_a_view_only_user_sees_a_prefix_of_each_token_and_a_superuser_the_whole_key():
    token = Token.objects.create(user=make_user("mes"))
    looking = signed_in(viewer()).get(URL)
    assert looking.status_code == 200
    assert token.key not in looking.content.decode()
    assert f"{token.key[:6]}…" in looking.content.decode()
    assert token.key in signed_in(make_user("root", superuser=True)).get(URL).content.decode()
