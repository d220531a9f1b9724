"""Pages and API side by side over plain HTTP: error formats, headers, static files, CSRF."""

from __future__ import annotations

import re

import httpx

from e2e.conftest import Site


def _client(site: Site) -> httpx.Client:
    return httpx.Client(base_url=site.url, timeout=30, follow_redirects=False)


def test_pages_answer_html_and_the_api_keeps_json(site: Site) -> None:
    with _client(site) as client:
        page = client.get("/no-such-page", headers={"Cookie": "lang=en"})
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Not found" in page.text
        assert 'lang="en"' in page.text
        api = client.get("/api/v1/no-such-endpoint")
        assert api.status_code == 404
        assert api.headers["content-type"].startswith("application/json")
        assert "error" in api.json()
        # Anonymous page requests go to the login form and come back afterwards.
        home = client.get("/children/00000000-0000-0000-0000-000000000000")
        assert home.status_code == 303
        assert home.headers["location"].startswith("/login?next=%2Fchildren%2F")


def test_static_files_and_security_headers(site: Site) -> None:
    with _client(site) as client:
        login = client.get("/login")
        assert login.status_code == 200
        policy = login.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self'" in policy
        assert login.headers["x-frame-options"] == "DENY"
        assert "childlink_csrf" in login.headers.get("set-cookie", "")
        script = client.get("/static/htmx.min.js")
        assert script.status_code == 200
        assert "htmx" in script.text[:2000]
        assert client.get("/static/childlink.css").status_code == 200
        for url in re.findall(r'(?:src|href)="([^"]+)"', login.text):
            assert url.startswith(("/", "?", "data:")), url


def test_login_form_needs_its_csrf_token(site: Site) -> None:
    account = site.accounts["director"]
    with _client(site) as client:
        client.get("/login")  # sets the double-submit cookie
        refused = client.post(
            "/login",
            data={
                "username": account.username,
                "password": account.password,
                "csrf_token": "forged",
            },
        )
        assert refused.status_code == 403
        assert 'data-error="csrf"' in refused.text
        assert "childlink_session" not in refused.headers.get("set-cookie", "")
        form = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        accepted = client.post(
            "/login",
            data={
                "username": account.username,
                "password": account.password,
                "csrf_token": token.group(1),
                "purpose": "case_work",
                "next": "//evil.example/steal",
            },
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/"  # never off-site
        assert "childlink_session" in accepted.headers["set-cookie"]
        # Unsafe page requests of a logged-in session need the session's token.
        purpose = client.post("/purpose", data={"purpose": "risk_screening"})
        assert purpose.status_code == 403


def test_data_pages_need_a_stated_purpose(site: Site) -> None:
    account = site.accounts["director"]
    with _client(site) as client:
        form = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        client.post(
            "/login",
            data={
                "username": account.username,
                "password": account.password,
                "csrf_token": token.group(1),
                "purpose": "risk_screening",
            },
        )
        assert client.cookies.get("purpose") == "risk_screening"
        client.cookies.delete("purpose")
        search = client.get("/search", params={"q": "ab"})
        assert search.status_code == 303
        assert search.headers["location"] == "/?purpose_needed=1"
        home = client.get(search.headers["location"])
        assert 'id="purpose-needed"' in home.text
