"""CSRF on every form, and error pages for people and for API callers."""

import re

from phonebank.models import Role
from tests import factories


def csrf_token(client, url):
    return re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(url).text
    ).group(1)


def test_forged_csrf_token_is_refused(csrf_client, db):
    factories.one_user_per_role()
    db.session.commit()
    response = csrf_client.post(
        "/login",
        data={"csrf_token": "forged", "email": "staff@example.org", "password": factories.PASSWORD},
    )
    assert response.status_code == 400
    assert b"did not come from phonebank" in response.data
    assert csrf_client.get("/").status_code == 302  # not signed in


def test_missing_csrf_token_is_refused_on_logout(csrf_client, db):
    factories.one_user_per_role()
    db.session.commit()
    token = csrf_token(csrf_client, "/login")
    response = csrf_client.post(
        "/login",
        data={"csrf_token": token, "email": "staff@example.org", "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    assert csrf_client.post("/logout").status_code == 400  # a cross-site logout is refused
    assert csrf_client.get("/").status_code == 200


def test_token_from_another_session_is_refused(csrf_client, database_url, db):
    from tests.conftest import make_app

    factories.one_user_per_role()
    db.session.commit()
    other_app = make_app(database_url, WTF_CSRF_ENABLED=True)
    foreign = csrf_token(other_app.test_client(), "/login")
    dispose(other_app)
    response = csrf_client.post(
        "/login",
        data={"csrf_token": foreign, "email": "staff@example.org", "password": factories.PASSWORD},
    )
    assert response.status_code == 400


def dispose(app) -> None:
    from phonebank.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_not_found_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.data


def test_errors_are_json_for_api_callers(client):
    response = client.get("/api/nothing", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"] == "Not found"


def test_unexpected_errors_give_a_500_page(database_url):
    from tests.conftest import make_app

    app = make_app(database_url, PROPAGATE_TEST_ERRORS=False)

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")
    dispose(app)
    assert response.status_code == 500
    assert b"Something went wrong" in response.data


def test_home_needs_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_role_ranks():
    assert Role.STAFF.rank > Role.LEAD.rank > Role.VOLUNTEER.rank
