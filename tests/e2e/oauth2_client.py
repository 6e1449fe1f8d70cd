"""A real OAuth2 client (authlib) against the server's provider: the authorization code flow with PKCE,
refresh token rotation, introspection, revocation, userinfo and a bearer token on scoped routes, and
the failures a client meets (replayed code, wrong verifier, wrong redirect URI, wrong secret).

Driven by tests/e2e/oauth2.rs, which registers the user and the application and passes them in the
environment: FLUXER_BASE (the server's origin), FLUXER_USER_TOKEN (the user's session token),
FLUXER_CLIENT_ID, FLUXER_CLIENT_SECRET, FLUXER_REDIRECT_URI and FLUXER_OTHER_REDIRECT_URI (both
registered). Prints one line per check and `N passed, M failed`; exits non-zero on a failure.
"""

import os
import sys
import traceback
from urllib.parse import parse_qs, urlparse

# The server listens on plain HTTP on loopback.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import requests  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session, OAuthError  # noqa: E402

BASE = os.environ["FLUXER_BASE"] + "/api/v1"
USER_TOKEN = os.environ["FLUXER_USER_TOKEN"]
CLIENT_ID = os.environ["FLUXER_CLIENT_ID"]
CLIENT_SECRET = os.environ["FLUXER_CLIENT_SECRET"]
REDIRECT_URI = os.environ["FLUXER_REDIRECT_URI"]
OTHER_REDIRECT_URI = os.environ["FLUXER_OTHER_REDIRECT_URI"]

AUTHORIZE = BASE + "/oauth2/authorize"
TOKEN = BASE + "/oauth2/token"
REVOKE = BASE + "/oauth2/token/revoke"
INTROSPECT = BASE + "/oauth2/introspect"

results = []


def check(name):
    def run(f):
        try:
            f()
            results.append((name, None))
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported, then counted
            results.append((name, traceback.format_exc()))
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
        return f

    return run


def session(scope, redirect_uri=REDIRECT_URI, secret=CLIENT_SECRET):
    return OAuth2Session(
        CLIENT_ID,
        secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def consent(client, verifier):
    """What the user's browser does: the app's authorization URL, consented to on the server (the
    web app posts the query's parameters), then the redirect back to the client with the code."""
    uri, state = client.create_authorization_url(AUTHORIZE, code_verifier=verifier)
    query = {k: v[0] for k, v in parse_qs(urlparse(uri).query).items()}
    assert query["code_challenge_method"] == "S256", query
    r = requests.post(
        BASE + "/oauth2/authorize/consent",
        json=query,
        headers={"Authorization": USER_TOKEN},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    redirect_to = r.json()["redirect_to"]
    back = {k: v[0] for k, v in parse_qs(urlparse(redirect_to).query).items()}
    assert back["state"] == state, (back, state)
    assert redirect_to.startswith(query["redirect_uri"]), redirect_to
    return redirect_to


def expect_oauth_error(error, f):
    try:
        f()
    except OAuthError as e:
        assert e.error == error, (e.error, e.description)
        return
    raise AssertionError(f"expected {error}")


state = {}


@check("authorization code with PKCE (S256) and HTTP Basic client authentication")
def _():
    client = session("identify email")
    verifier = generate_token(64)
    redirect_to = consent(client, verifier)
    token = client.fetch_token(TOKEN, authorization_response=redirect_to, code_verifier=verifier)
    assert token["token_type"] == "Bearer", token
    assert token["scope"] == "identify email", token
    assert token["expires_in"] == 604800, token
    assert token["refresh_token"], token
    state["client"], state["token"] = client, token


@check("bearer token on routes within its scopes")
def _():
    client = state["client"]
    me = client.get(BASE + "/users/@me", timeout=30)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == os.environ["FLUXER_USER_EMAIL"], me.json()
    info = client.get(BASE + "/oauth2/userinfo", timeout=30)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == me.json()["id"], info.json()
    assert info.json()["email"] == os.environ["FLUXER_USER_EMAIL"], info.json()
    about = client.get(BASE + "/oauth2/@me", timeout=30).json()
    assert about["application"]["id"] == CLIENT_ID, about
    assert about["scopes"] == ["identify", "email"], about
    assert about["user"]["id"] == me.json()["id"], about


@check("bearer token refused outside its scopes (403)")
def _():
    client = state["client"]
    guilds = client.get(BASE + "/users/@me/guilds", timeout=30)
    assert guilds.status_code == 403, guilds.text
    assert guilds.json()["code"] == "MISSING_OAUTH_SCOPE", guilds.json()
    assert guilds.json()["required_scope"] == "guilds", guilds.json()
    dms = client.get(BASE + "/users/@me/channels", timeout=30)
    assert dms.status_code == 403, dms.text
    assert dms.json()["code"] == "ACCESS_DENIED", dms.json()


@check("introspection of a live token")
def _():
    client, token = state["client"], state["token"]
    r = client.introspect_token(INTROSPECT, token=token["access_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] is True, body
    assert body["client_id"] == CLIENT_ID, body
    assert body["scope"] == "identify email", body
    assert body["token_type"] == "Bearer", body
    assert body["exp"] > body["iat"], body


@check("refresh token rotation: a new pair; the old refresh token refused, its replay revokes the grant")
def _():
    client, token = state["client"], state["token"]
    old_refresh, old_access = token["refresh_token"], token["access_token"]
    fresh = client.refresh_token(TOKEN, refresh_token=old_refresh)
    assert fresh["refresh_token"] != old_refresh, fresh
    assert fresh["access_token"] != old_access, fresh
    assert fresh["scope"] == "identify email", fresh
    expect_oauth_error(
        "invalid_grant", lambda: session("identify email").refresh_token(TOKEN, refresh_token=old_refresh)
    )
    # A rotated refresh token presented again was copied: the grant ends, the new pair with it.
    me = client.get(BASE + "/users/@me", timeout=30)
    assert me.status_code == 401, me.text
    # The user authorizes anew for the checks that follow.
    client = session("identify email")
    verifier = generate_token(64)
    redirect_to = consent(client, verifier)
    token = client.fetch_token(TOKEN, authorization_response=redirect_to, code_verifier=verifier)
    assert client.get(BASE + "/users/@me", timeout=30).status_code == 200
    state["client"], state["token"] = client, token


@check("revocation ends the grant: access and refresh tokens stop working")
def _():
    client, token = state["client"], state["token"]
    r = client.revoke_token(REVOKE, token=token["access_token"], token_type_hint="access_token")
    assert r.status_code == 200, r.text
    gone = requests.get(
        BASE + "/oauth2/userinfo",
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=30,
    )
    assert gone.status_code == 401, gone.text
    r = client.introspect_token(INTROSPECT, token=token["access_token"])
    assert r.json() == {"active": False}, r.text
    expect_oauth_error(
        "invalid_grant", lambda: client.refresh_token(TOKEN, refresh_token=token["refresh_token"])
    )
    # Revoking again, or an unknown token, is no error (RFC 7009).
    assert client.revoke_token(REVOKE, token=token["access_token"]).status_code == 200


@check("a guilds-scoped token reads the user's guilds, but not the profile")
def _():
    client = session("guilds")
    verifier = generate_token(64)
    token = client.fetch_token(
        TOKEN, authorization_response=consent(client, verifier), code_verifier=verifier
    )
    guilds = client.get(BASE + "/users/@me/guilds", timeout=30)
    assert guilds.status_code == 200, guilds.text
    assert [g["name"] for g in guilds.json()] == ["OAuth Guild"], guilds.json()
    me = client.get(BASE + "/users/@me", timeout=30)
    assert me.status_code == 403 and me.json()["code"] == "MISSING_OAUTH_SCOPE", me.text
    assert token["scope"] == "guilds", token


@check("a replayed code is refused, and revokes the tokens it gave")
def _():
    client = session("identify")
    verifier = generate_token(64)
    redirect_to = consent(client, verifier)
    client.fetch_token(TOKEN, authorization_response=redirect_to, code_verifier=verifier)
    assert client.get(BASE + "/users/@me", timeout=30).status_code == 200
    expect_oauth_error(
        "invalid_grant",
        lambda: session("identify").fetch_token(
            TOKEN, authorization_response=redirect_to, code_verifier=verifier
        ),
    )
    me = client.get(BASE + "/users/@me", timeout=30)
    assert me.status_code == 401, me.text


@check("a wrong PKCE verifier is refused, and spends the code")
def _():
    client = session("identify")
    verifier = generate_token(64)
    redirect_to = consent(client, verifier)
    expect_oauth_error(
        "invalid_grant",
        lambda: client.fetch_token(
            TOKEN, authorization_response=redirect_to, code_verifier=generate_token(64)
        ),
    )
    expect_oauth_error(
        "invalid_grant",
        lambda: client.fetch_token(TOKEN, authorization_response=redirect_to, code_verifier=verifier),
    )


@check("a code exchanged with another redirect URI is refused")
def _():
    client = session("identify")
    verifier = generate_token(64)
    redirect_to = consent(client, verifier)
    other = session("identify", redirect_uri=OTHER_REDIRECT_URI)
    expect_oauth_error(
        "invalid_grant",
        lambda: other.fetch_token(TOKEN, authorization_response=redirect_to, code_verifier=verifier),
    )


@check("a wrong client secret is refused (401 with a Basic challenge) and leaves the code")
def _():
    client = session("identify")
    verifier = generate_token(64)
    redirect_to = consent(client, verifier)
    wrong = session("identify", secret="not-the-secret")
    expect_oauth_error(
        "invalid_client",
        lambda: wrong.fetch_token(TOKEN, authorization_response=redirect_to, code_verifier=verifier),
    )
    code = parse_qs(urlparse(redirect_to).query)["code"][0]
    raw = requests.post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, "not-the-secret"),
        timeout=30,
    )
    assert raw.status_code == 401, raw.text
    assert raw.headers["WWW-Authenticate"].startswith("Basic"), raw.headers
    assert raw.json()["error"] == "invalid_client", raw.json()
    # The right client still redeems it.
    token = client.fetch_token(TOKEN, authorization_response=redirect_to, code_verifier=verifier)
    assert token["access_token"], token


failed = [name for name, error in results if error]
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
