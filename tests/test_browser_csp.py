"""The Content-Security-Policy (issue 11, item 10): every kind of page works under it.

Real Chromium loads the affiliate panel, the login page, Django admin (claim decisions, the feed
upload and its progress page, import-export's export page), the Swagger UI and the error pages
under the policy the project serves in production, and fails on any violation the browser reports
(securitypolicyviolation events and its console) and on any script error. The interactive bits
(countdown, htmx refresh and search, the Cancel Request dialog, copy buttons, confirm prompts, the
admin upload progress) are used, not only loaded. No test waits for real time: the page's timers
run on Playwright's clock, except the admin progress page, whose <meta refresh> is awaited.

The tests without a browser check the rules that keep it so: the header itself, the same policy
with DEBUG off, no inline script, handler or style anywhere in our templates, and our copy of
import-export's export page still being upstream's but for the CSP edits.
"""

import json
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.http import Http404
from django.urls import path
from django.utils import timezone
from playwright.sync_api import Page, expect

from affiliates.models import ApiKey
from inventory.models import FeedImport
from inventory.tasks import feed_import_task
from orders import services
from sophio_fbs.urls import urlpatterns as project_urlpatterns
from tests.factories import PASSWORD, StaffFactory, make_api_key
from tests.orders_helpers import affiliate_user, place, release_and_fulfill, stock_up
from tests.test_browser_settings import log_in
from tests.test_claims_helpers import file_claim, use_private_storage, voided_line

BASE_DIR = Path(__file__).resolve().parent.parent
browser = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# --- The project's URLs plus one view that fails, for the 500 page -------------------------------


def _server_error(request):
    raise RuntimeError("a failure on purpose, to render the 500 page")


def _not_found(request):
    raise Http404


urlpatterns = [
    path("csp-test/500", _server_error),
    path("csp-test/404", _not_found),
    *project_urlpatterns,
]


# --- What the browser reports --------------------------------------------------------------------

# Directives whose sources must never allow inline code or eval.
STRICT_DIRECTIVES = ("script-src", "style-src")
FORBIDDEN_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:")


def parse_policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def policy_problems(header: str | None) -> list[str]:
    """What makes this header weaker than the production policy (empty: none)."""
    if not header:
        return ["no Content-Security-Policy header"]
    policy = parse_policy(header)
    problems = []
    for name in STRICT_DIRECTIVES:
        sources = policy.get(name)
        if not sources:
            problems.append(f"{name} missing")
            continue
        problems += [f"{name} allows {s}" for s in sources if s in FORBIDDEN_SOURCES]
    for name, expected in {
        "default-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    }.items():
        if policy.get(name) != expected:
            problems.append(f"{name} is {policy.get(name)}, not {expected}")
    return problems


@dataclass
class CspWatch:
    """Everything a page did that the policy refused, and every page's policy."""

    violations: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    documents: list = field(default_factory=list)

    page: Page | None = None

    def assert_clean(self) -> None:
        if self.page is not None and not self.page.is_closed():
            self.page.evaluate(SETTLE)
        assert self.documents, "no page was loaded"
        weak = [
            (url, problems)
            for url, header in self.documents
            if (problems := policy_problems(header))
        ]
        assert weak == [], "pages served without the production policy"
        assert self.violations == [], "the browser refused something under the policy"
        assert self.errors == [], "a script failed on the page"

    def pages(self) -> set[str]:
        return {re.sub(r"^https?://[^/]+", "", url).split("?")[0] for url, _ in self.documents}


# Registered before any page script runs, on every page the test opens.
REPORT_VIOLATIONS = """
window.__fbsCspSeen = 0;
document.addEventListener("securitypolicyviolation", (e) => {
  window.__fbsCspSeen += 1;
  window.__fbsCspViolation({
    page: location.pathname, directive: e.effectiveDirective, blocked: e.blockedURI,
    sample: e.sample, source: e.sourceFile + ":" + e.lineNumber,
  });
});
"""
# A round trip through the page's task queue: reports of what the page did so far reach us first.
# (A message channel, not setTimeout: tests that install Playwright's clock control the timers.)
SETTLE = """() => new Promise((resolve) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => resolve();
  channel.port2.postMessage(0);
})"""


def watch(page: Page) -> CspWatch:
    seen = CspWatch(page=page)
    page.expose_function("__fbsCspViolation", lambda report: seen.violations.append(report))
    page.add_init_script(REPORT_VIOLATIONS)

    def on_console(message):
        text = message.text
        # Chromium reports a refusal on the console too; htmx reports its own errors there.
        if "Content Security Policy" in text or text.startswith("htmx:"):
            seen.violations.append(("console", message.type, text))

    def on_response(response):
        if (
            response.request.resource_type == "document"
            and response.request.frame == page.main_frame
        ):
            seen.documents.append((response.url, response.headers.get("content-security-policy")))

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("response", on_response)
    return seen


@pytest.fixture
def csp(page: Page) -> CspWatch:
    return watch(page)


@pytest.fixture
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


def log_in_admin(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")


def bar_share(page: Page, bar, track) -> float:
    """The width of a bar as a share of its track's width, as the browser laid it out."""
    return bar.bounding_box()["width"] / track.bounding_box()["width"]


# --- The watcher itself --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_csp_refuses_inline_code_and_the_watch_reports_it(page: Page, live_server, csp):
    # given a page of ours under the policy
    page.goto(f"{live_server.url}/login/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert csp.violations == []

    # when something adds an inline script, a style attribute and an inline handler
    page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.__ran = true";
          document.body.append(s);
          document.body.setAttribute("style", "background: red");
          document.body.setAttribute("onclick", "window.__clicked = true");
          document.body.click();
        }"""
    )

    # then none of them runs, and the watch sees each refusal
    assert page.evaluate("window.__ran === undefined && window.__clicked === undefined")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    page.wait_for_function("window.__fbsCspSeen >= 3")
    page.evaluate(SETTLE)
    directives = {v["directive"] for v in csp.violations if isinstance(v, dict)}
    assert {"script-src-elem", "style-src-attr", "script-src-attr"} <= directives
    with pytest.raises(AssertionError):
        csp.assert_clean()


# --- The affiliate panel -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_affiliate_pages_work_under_the_policy(
    page: Page, live_server, csp, private_storage
):
    # given an affiliate with a claim on a voided line, a second voided line, a fulfilled order
    # (so the fill rate has bars) and an order still in the queue
    user, _, line = voided_line(min_stock=2)
    claim = file_claim(user, line)
    _, _, unclaimed = voided_line(user=user, number="M-2")
    release_and_fulfill(place(user, ("P2", 1), marketplace_order_id="M-3"))
    queued = place(user, ("P3", 1), marketplace_order_id="M-4")

    # the login page, then every page of the panel
    log_in(page, live_server, user.username)
    # one line of three filled, two voided: the gauge is a third full
    expect(page.locator("#fill-rate-card")).to_contain_text("33.3%")
    gauge = page.locator("#fill-rate-card .progress")
    assert bar_share(page, gauge.locator(".progress-bar"), gauge) == pytest.approx(1 / 3, abs=0.02)

    page.goto(f"{live_server.url}/catalog/")
    # the live search is htmx: typing fetches the results and pushes the URL
    page.locator("#search").fill("p2")
    expect(page).to_have_url(re.compile(r"/catalog/\?search=p2"))
    expect(page.locator("#catalog-results")).to_contain_text("P2")
    expect(page.locator("#catalog-results")).not_to_contain_text("P3")
    page.locator("#catalog-results").get_by_role("link", name=re.compile("P2")).first.click()
    expect(page).to_have_url(re.compile(r"/catalog/\d+/"))

    page.goto(f"{live_server.url}/orders/fill-rate")
    track = page.locator("#fill-rate-chart .fill-rate-bar").first
    shares = [bar_share(page, bar, track) for bar in track.locator(".progress").all()]
    # two lines voided, one filled by the first warehouse: a third and two thirds of the bar
    assert shares == [pytest.approx(1 / 3, abs=0.02), 0, pytest.approx(2 / 3, abs=0.02)]

    page.goto(f"{live_server.url}/orders/new")
    rows = page.locator("[data-line-row]")
    before = rows.count()
    page.locator("[data-add-line]").click()
    expect(rows).to_have_count(before + 1)

    for url in (
        "/orders/",
        f"/orders/{queued.pk}/",
        f"/orders/{queued.pk}/cancel-request",
        "/orders/upload",
        "/claims/",
        f"/claims/{claim.pk}/",
        f"/claims/new?line={unclaimed.pk}",
        "/settings/",
    ):
        page.goto(live_server.url + url)
        expect(page.locator("main")).to_be_visible()

    assert {"/login/", "/", "/catalog/", "/orders/fill-rate", "/claims/new"} <= csp.pages()
    csp.assert_clean()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_settings_confirm_prompts_work_under_the_policy(page: Page, live_server, csp):
    # given an affiliate with an API key (the prompts were onsubmit="" handlers before)
    user = affiliate_user()
    key, _ = make_api_key(user)
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/settings/")
    asked = []

    # when it clicks Revoke and answers No, nothing is sent
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("button", name="Revoke")).to_be_enabled()
    assert asked == ["Revoke this key? Tools using it will stop working."]
    key.refresh_from_db()
    assert key.is_active

    # when it answers Yes, the key is revoked
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#api-keys")).to_contain_text("Revoked")
    assert ApiKey.objects.get(pk=key.pk).is_active is False

    # and removing a payment method asks about that method
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator("#payment-methods").get_by_role("button", name="Remove").click()
    expect(page.locator("#payment-methods")).to_contain_text("4242")
    assert re.fullmatch(r"Remove .*4242.* from file\?", asked[-1])
    csp.assert_clean()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_order_management_interactive_bits_work_under_the_policy(
    page: Page, live_server, csp
):
    stock_up()
    user = affiliate_user()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server, user.username)
    released = place(user, marketplace_order_id="M-1")
    page.clock.install(time=timezone.now())
    page.goto(f"{live_server.url}/orders/")
    row = page.locator(f'[data-order-row="{released.pk}"]')
    expect(row).to_contain_text("left to cancel")
    page.evaluate(
        """() => {
          window.__polls = {asked: 0, sent: 0};
          document.addEventListener("htmx:beforeRequest", () => window.__polls.asked++);
          document.addEventListener("htmx:beforeSend", () => window.__polls.sent++);
        }"""
    )

    # the live refresh skips its round while a menu is open (panel.js, not an eval'd filter)...
    row.get_by_role("button", name=re.compile("Supplier")).click()
    services.order_release_due(now=released.release_at + timedelta(seconds=1))
    page.clock.fast_forward(5_100)
    assert page.evaluate("window.__polls") == {"asked": 1, "sent": 0}
    expect(row).to_contain_text("Queued")

    # ...and refreshes once it is closed
    page.keyboard.press("Escape")
    page.clock.fast_forward(5_100)
    expect(row).to_contain_text("Processing")
    assert page.evaluate("window.__polls.sent") == 1

    # the Cancel Request dialog, for an order that appears at the next refresh
    to_cancel = place(user, marketplace_order_id="M-2")
    page.clock.fast_forward(5_100)
    other = page.locator(f'[data-order-row="{to_cancel.pk}"]')
    other.get_by_role("button", name=re.compile("Supplier")).click()
    other.get_by_role("link", name="Cancel Request").click()
    dialog = page.locator("#cancel-modal")
    expect(dialog).to_contain_text(f"Cancel Request for {to_cancel.number}")
    dialog.get_by_label("Reason").select_option("Buyer changed their mind")
    dialog.get_by_role("button", name="Send Cancel Request").click()
    expect(page.locator("#cancel-outcome")).to_contain_text(f"{to_cancel.number} is cancelled")

    # the copy button of the released order's message for the buyer
    page.goto(f"{live_server.url}/orders/{released.pk}/")
    page.locator("summary", has_text="A message you can send your buyer").click()
    page.get_by_role("button", name="Copy message").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").strip() != ""

    # the countdown of a queued order reaches zero and takes Cancel Request away
    queued = place(user, marketplace_order_id="M-3")
    page.goto(f"{live_server.url}/orders/{queued.pk}/")
    countdown = page.locator("#order-state [data-countdown-clock]")
    expect(countdown).to_have_text(re.compile(r"^(29:\d\d|30:00)$"))
    page.clock.fast_forward("30:01")
    expect(countdown).to_have_text("Releasing…")
    expect(page.get_by_role("link", name="Cancel Request…")).to_be_hidden()
    csp.assert_clean()


# --- Django admin ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_admin_pages_work_under_the_policy(page: Page, live_server, csp, private_storage):
    user, _, line = voided_line(min_stock=2)
    claim = file_claim(user, line)
    StaffFactory(username="root", is_superuser=True)
    log_in_admin(page, live_server, "root")

    # the claims list, its filters and the decision page of an action
    page.goto(f"{live_server.url}/admin/claims/claim/")
    row = page.locator("#result_list tbody tr").filter(has_text=claim.number)
    row.get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option("approve_claims")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", name="Approve claims")).to_be_visible()
    expect(page.locator("#decision-claims")).to_contain_text(claim.number)
    page.get_by_role("link", name="Cancel").click()

    # the claim's own page with its decision buttons, and the monthly summary
    page.goto(f"{live_server.url}/admin/claims/claim/{claim.pk}/change/")
    expect(page.locator("#claim-decisions")).to_be_visible()
    page.goto(f"{live_server.url}/admin/claims/claim/")
    page.get_by_role("link", name="Monthly summary").click()
    expect(page.locator("#content")).to_contain_text("Claims by month filed")

    # import-export's export page: its "Select all" works without the onchange="" attribute
    page.goto(f"{live_server.url}/admin/claims/claim/export/")
    fields = page.locator('.selectable-field-export-row input[type="checkbox"]')
    expect(fields.first).to_be_checked()
    page.locator("input.select-toggle").uncheck()
    assert not any(box.is_checked() for box in fields.all())
    page.locator("input.select-toggle").check()
    assert all(box.is_checked() for box in fields.all())

    # pages built on Django admin's own scripts: filters, the related-object widgets, selects
    for url in (
        "/admin/",
        f"/admin/affiliates/user/{user.pk}/change/",
        "/admin/affiliates/user/add/",
        f"/admin/orders/order/{claim.order_id}/change/",
        "/admin/orders/order/?q=M-1",
        "/admin/inventory/warehouse/add/",
        "/admin/payments/ledgerentry/",
    ):
        page.goto(live_server.url + url)
        expect(page.locator("#content")).to_be_visible()
    csp.assert_clean()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_admin_feed_upload_progress_page_refreshes_under_the_policy(
    page: Page, live_server, csp, private_storage
):
    # given a known warehouse and a superuser at the upload form
    stock_up("WH7")
    StaffFactory(username="root", is_superuser=True)
    log_in_admin(page, live_server, "root")
    page.goto(f"{live_server.url}/admin/inventory/feedimport/add/")

    # when a feed is uploaded, the page that follows it shows it queued
    page.get_by_label("Feed file").set_input_files(
        files=[
            {
                "name": "WH7.csv",
                "mimeType": "text/csv",
                "buffer": b"line_code,part_number,qty,cost\nACD,P1,9,5.00\nACD,P2,9,8.00\n"
                b"ACD,P3,9,2.00\n",
            }
        ]
    )
    page.locator("input[name=warehouse_code]").fill("WH7")
    page.locator("input[type=submit][name=_save]").click()
    expect(page.locator(".messagelist")).to_contain_text("this page follows its progress")
    feed_import = FeedImport.objects.latest("pk")
    expect(page.locator(".field-status")).to_contain_text(str(FeedImport.Status.PENDING.label))

    # then, once the worker has run it, the page reloads itself and shows it applied
    feed_import_task(feed_import.pk)
    expect(page.locator(".field-progress")).to_contain_text("done", timeout=15_000)
    assert len([url for url, _ in csp.documents if f"/{feed_import.pk}/change/" in url]) >= 2
    csp.assert_clean()


# --- The API documentation and the error pages --------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_swagger_ui_works_under_the_policy(page: Page, live_server, csp):
    page.goto(f"{live_server.url}/api/v1/docs")

    # its start-up script ran (it carries the response's nonce) and drew every operation
    expect(page.locator(".opblock").first).to_be_visible()
    operation = page.locator(".opblock-summary").first
    operation.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    nonce = re.search(r"'nonce-([^']+)'", csp.documents[-1][1]).group(1)
    assert page.evaluate("[...document.scripts].filter(s => !s.src).length") == 1
    assert page.evaluate("[...document.scripts].filter(s => !s.src)[0].nonce") == nonce
    csp.assert_clean()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_swagger_ui_on_a_public_host_loads_nothing_from_outside(
    browser_type, browser_type_launch_args, live_server, settings
):
    """Swagger UI hides its validator badge (an image from validator.swagger.io) on localhost
    only: on a real host name the policy would refuse it. Chromium resolves a made-up host to
    the live server here."""
    settings.ALLOWED_HOSTS = ["fbs.test"]
    port = live_server.url.rsplit(":", 1)[1]
    args = [
        *browser_type_launch_args.get("args", []),
        "--host-resolver-rules=MAP fbs.test 127.0.0.1",
    ]
    public = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        page = public.new_page()
        seen = watch(page)
        outside = []
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if not request.url.startswith(f"http://fbs.test:{port}/")
                else None
            ),
        )

        page.goto(f"http://fbs.test:{port}/api/v1/docs")
        expect(page.locator(".opblock").first).to_be_visible()

        assert page.evaluate("ui.getConfigs().validatorUrl") is None
        assert outside == []
        seen.assert_clean()
    finally:
        public.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls(__name__)
def test_browser_error_pages_work_under_the_policy(page: Page, live_server, csp, settings):
    # given production error handling (the debug pages are exempt from the policy)
    settings.DEBUG = False
    user = affiliate_user()
    log_in(page, live_server, user.username)

    # when pages that do not exist or that fail are opened, signed in and signed out
    statuses = []
    for url in ("/no-such-page/", "/csp-test/404", "/orders/999999/", "/csp-test/500"):
        statuses.append(page.goto(live_server.url + url).status)
    page.context.clear_cookies()
    statuses.append(page.goto(f"{live_server.url}/no-such-page/").status)

    # then each is a plain error page under the policy, with nothing refused
    assert statuses == [404, 404, 404, 500, 404]
    csp.assert_clean()


# --- Without a browser: the header and the rules that keep the pages clean ---------------------


@pytest.mark.django_db
def test_csp_header_on_pages_api_and_admin(client):
    for url in ("/login/", "/admin/login/", "/api/v1/me", "/api/v1/schema"):
        response = client.get(url)
        assert policy_problems(response.get("Content-Security-Policy")) == [], url
        # a nonce is only announced where a page used one
        assert "'nonce-" not in response["Content-Security-Policy"], url


@pytest.mark.django_db
def test_csp_nonce_of_the_docs_page_matches_its_one_inline_script(client):
    response = client.get("/api/v1/docs")

    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script(?![^>]*\ssrc=)([^>]*)>", response.content.decode())
    assert scripts == [f' nonce="{nonce}"']
    assert "<style" not in response.content.decode()
    assert (
        client.get("/api/v1/docs")["Content-Security-Policy"] != response["Content-Security-Policy"]
    )


def test_csp_policy_is_the_same_with_debug_off(tmp_path):
    """The policy the tests run under is the production one: settings read with DEBUG=0."""
    code = (
        "import django, json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'sophio_fbs.settings';"
        "from django.conf import settings;"
        "print(json.dumps({k: [str(s) for s in v] for k, v in "
        "settings.CONTENT_SECURITY_POLICY['DIRECTIVES'].items()}, sort_keys=True));"
        "print('csp.middleware.CSPMiddleware' in settings.MIDDLEWARE)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 50,
        "FBS_VAR_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    here = {
        k: [str(s) for s in v]
        for k, v in django_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].items()
    }
    assert json.loads(out[0]) == dict(sorted(here.items()))
    assert out[1] == "True"
    assert "csp.middleware.CSPMiddleware" in django_settings.MIDDLEWARE


# What the policy refuses, as it appears in a template or in HTML built in Python.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.IGNORECASE)
INLINE_STYLE_ATTR = re.compile(r"""\sstyle\s*=\s*["'{]""", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.IGNORECASE)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']\s*javascript:""", re.IGNORECASE)
EVAL_HTMX = re.compile(r"""hx-on|hx-vals\s*=\s*["']\s*js:|hx-trigger\s*=\s*["'][^"']*\[""")
NONCED = re.compile(r"""<script nonce="\{\{ request\.csp_nonce \}\}">""")


TEMPLATE_COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.DOTALL)


def _blank(match: re.Match) -> str:
    # keeps line numbers: a comment becomes as many empty lines as it had
    return "\n" * match.group(0).count("\n")


def our_markup():
    """(file, text) of every template of ours without its comments, and every str literal of our
    Python code (format_html and friends build HTML there); bytes literals are data, not HTML."""
    for file in sorted((BASE_DIR / "templates").rglob("*.html")):
        yield file, TEMPLATE_COMMENT.sub(_blank, file.read_text())
    for app in ("affiliates", "payments", "inventory", "orders", "claims", "sophio_fbs"):
        for file in sorted((BASE_DIR / app).rglob("*.py")):
            if "migrations" in file.parts:
                continue
            with file.open("rb") as source:
                strings = [
                    "\n" * (token.start[0] - 1) + token.string
                    for token in tokenize.tokenize(source.readline)
                    if token.type == tokenize.STRING and not re.match(r"[rRfF]*[bB]", token.string)
                ]
            for text in strings:
                yield file, text


def test_csp_no_inline_script_handler_or_style_in_our_templates_and_html():
    found = []
    for file, text in our_markup():
        for name, pattern in (
            ("inline script", INLINE_SCRIPT),
            ("on* handler", INLINE_HANDLER),
            ("style attribute", INLINE_STYLE_ATTR),
            ("style element", STYLE_ELEMENT),
            ("javascript: URL", JS_URL),
            ("htmx code that needs eval", EVAL_HTMX),
        ):
            for match in pattern.finditer(text):
                if name == "inline script" and NONCED.match(text, match.start()):
                    continue
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{file.relative_to(BASE_DIR)}:{line}: {name}")
    assert found == []


def test_csp_export_page_override_is_upstream_but_for_the_csp_edits():
    """templates/admin/import_export/export.html is a copy of import-export's page: an upgrade
    that changes the original makes this fail until the copy is redone from it."""
    import import_export

    upstream = (
        Path(import_export.__file__).parent / "templates/admin/import_export/export.html"
    ).read_text()
    ours = (BASE_DIR / "templates/admin/import_export/export.html").read_text()
    edits = [
        ("{% load import_export_tags %}\n", "{% load import_export_tags %}\n{% load static %}\n"),
        (
            "{{ form.media }}\n",
            "{{ form.media }}\n<script src=\"{% static 'js/admin_export.js' %}\"></script>\n",
        ),
        ('<p style="padding: 0;">', '<p class="fbs-export-intro">'),
        (' onchange="onSelectToggleChange(event)" checked>', " checked>"),
        ('<label style="font-weight: bold;" for=', '<label class="fbs-export-toggle-label" for='),
    ]
    expected = upstream
    for before, after in edits:
        assert expected.count(before) == 1, f"upstream changed: {before!r}"
        expected = expected.replace(before, after)
    notes = [line for line in ours.splitlines() if line.startswith("{# CSP override:")]
    assert notes
    assert [line for line in ours.splitlines() if line not in notes] == expected.splitlines()
