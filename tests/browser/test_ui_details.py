"""The details a new user notices (issue 17): each one checked in real Chromium."""

from __future__ import annotations

import itertools
import re
import secrets

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import (
    DESKTOP,
    NO_JAVASCRIPT,
    PHONE,
    NewPerson,
    Person,
    Setup,
    Shots,
    Site,
    audit_actions,
    secret_id,
    set_claims,
    views_left,
)
from tests.support.people import CUSTOMER, OTHER_CUSTOMER, STAFF

pytestmark = pytest.mark.browser

PHONE_NO_JAVASCRIPT = Setup("phone-nojs", PHONE.viewport, javascript=False, phone=True)
ZONE_NAME = re.compile(r"\b(CET|CEST)\b")  # the contexts browse from Europe/Amsterdam


def one_setup(*setups: Setup) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("setup", setups, ids=[setup.name for setup in setups])


async def staff_shares(new_person: NewPerson, content: str = "db: s3cr3t") -> tuple[Person, str]:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    link = await alice.create_secret(page, content, recipient_email=CUSTOMER)
    return alice, link


async def audit_text(site: Site, secret: str) -> str:
    """Every column of every audit row about this secret, as one text."""
    rows = await site.query("SELECT * FROM audit_event WHERE secret_id = $1", secret)
    assert rows
    return repr([dict(row) for row in rows])


async def border(page: Page, selector: str) -> tuple[str, str]:
    style = await page.locator(selector).evaluate(
        "el => { const s = getComputedStyle(el); return [s.borderTopColor, s.borderTopWidth]; }"
    )
    return style[0], style[1]


# 1. Past events never read as if they were still to come.
@one_setup(DESKTOP)
async def test_a_revocation_just_now_reads_as_past(new_person: NewPerson) -> None:
    alice, link = await staff_shares(new_person)
    sid = secret_id(link)
    page = await alice.open(alice.site.base_url + "/dashboard")
    row = page.locator(f"#secret-{sid}")
    await alice.press(row.get_by_role("button", name="Revoke"))
    await alice.press(page.get_by_role("button", name="Yes, revoke"))
    row = page.locator(f"#secret-{sid}")
    await expect(row).to_contain_text("Revoked just now")
    assert " in " not in await row.locator(".hint").inner_text()


# 2. A field in error looks it: the same red border on every kind of field.
@one_setup(DESKTOP)
async def test_every_field_in_error_has_the_error_border(new_person: NewPerson) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    await page.get_by_label("Recipient's email address").fill("not-an-email")
    await alice.press(page.get_by_role("button", name="Create secret link"))
    await expect(page.locator("#recipient_email")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#content")).to_have_attribute("aria-invalid", "true")
    textarea = await border(page, "#content")
    assert textarea[1] == "2px", textarea
    assert await border(page, "#recipient_email") == textarea


@one_setup(NO_JAVASCRIPT)
async def test_a_wrong_key_field_has_the_error_border(new_person: NewPerson) -> None:
    _alice, link = await staff_shares(new_person)
    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(link.split("#")[0])
    await page.get_by_label("Key", exact=True).fill("A" * 43)
    await bob.press(page.get_by_role("button", name="Reveal secret"))
    await expect(page.locator("#key")).to_have_attribute("aria-invalid", "true")
    color, width = await border(page, "#key")
    assert width == "2px"
    danger = await page.evaluate(
        "() => { const p = document.createElement('p'); p.className = 'field-error';"
        " document.body.append(p); const c = getComputedStyle(p).color; p.remove(); return c; }"
    )
    assert color == danger


# 3. After a reveal in place, the heading no longer says the secret is waiting.
@one_setup(DESKTOP, PHONE)
async def test_heading_follows_an_in_place_reveal(new_person: NewPerson) -> None:
    _alice, link = await staff_shares(new_person, "heading follows")
    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(link)
    waiting = page.get_by_role("heading", name="A secret is waiting for you")
    await expect(waiting).to_be_visible()
    await page.evaluate("() => { window.safeShareSamePage = true; }")
    await expect(await bob.reveal(page, link)).to_have_text("heading follows")
    assert await page.evaluate("() => window.safeShareSamePage === true")  # swapped in place
    await expect(waiting).to_have_count(0)
    await expect(page.get_by_text("It expires")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Your secret", exact=True)).to_be_visible()
    await expect(page.locator("h1")).to_have_count(1)


# 4. The header does not read "Safe Share Share".
@one_setup(DESKTOP, PHONE)
async def test_header_reads_naturally(new_person: NewPerson) -> None:
    alice = await new_person(STAFF, signed_in=True)
    page = await alice.home()
    header = " ".join((await page.locator("header").inner_text()).split())
    assert "Share Share" not in header, header
    await expect(
        page.get_by_role("navigation").get_by_role("link", name="New secret")
    ).to_be_visible()


# 5. "Send the link and the key separately" looks like something that opens.
@one_setup(DESKTOP)
async def test_two_channel_disclosure_shows_its_marker(new_person: NewPerson) -> None:
    # Someone of their own: the language choice sticks to the session.
    alice = await new_person("dora@prowise.com")
    await alice.sign_in()
    for language, switch in (("en", False), ("nl", True), ("de", True)):
        page = await alice.home()
        if switch:
            await alice.open_account_menu(page)
            await page.locator("#language-choice").select_option(language)
            await alice.press(page.locator("#account-menu form.language button"))
        await page.locator("#content").fill("two channels")
        await page.locator("#recipient_email").fill(CUSTOMER)
        await alice.press(page.locator("#create button[type=submit]"))
        summary = page.locator("details.two-channels > summary")
        await expect(summary).to_be_visible()
        display = await summary.evaluate("el => getComputedStyle(el).display")
        assert display == "list-item", (language, display)  # the browser's own ▸ marker
        await alice.press(summary)
        await expect(page.locator("#bare-key")).to_be_visible()


# 6. The phone header: two rows at most, the account behind one menu that needs no script.
@one_setup(PHONE, PHONE_NO_JAVASCRIPT)
async def test_phone_header_fits_in_two_rows(
    setup: Setup, new_person: NewPerson, shots: Shots
) -> None:
    erin = "erin@prowise.com"
    alice = await new_person(erin)  # signs out: not the shared session
    page = await alice.sign_in()
    header = page.locator("header")
    box = await header.bounding_box()
    assert box is not None
    assert box["height"] <= 120, box
    # Rows: the distinct vertical bands that the header's visible controls sit in.
    rows = await header.evaluate(
        "h => [...h.querySelectorAll('a, summary, button')]"
        ".filter(e => e.checkVisibility())"
        ".map(e => { const r = e.getBoundingClientRect(); return (r.top + r.bottom) / 2; })"
        ".sort((a, b) => a - b).filter((c, i, all) => i === 0 || c - all[i - 1] > 22).length"
    )
    assert rows <= 2, rows
    sign_out = page.get_by_role("button", name="Sign out")
    await expect(sign_out).to_be_hidden()
    await shots.take(page, "header")
    menu = await alice.open_account_menu(page)
    await expect(menu.get_by_text(erin)).to_be_visible()
    await expect(menu.get_by_label("Language")).to_be_visible()
    await shots.take(page, "header-menu")
    await alice.press(sign_out)
    await page.wait_for_url(f"{alice.site.issuer}/oauth2/end_session**")  # the provider's too


# 7. /invitations: the cards have room between them; a state is not dressed as a link.
@one_setup(DESKTOP, PHONE)
async def test_invitations_cards_are_spaced_and_states_are_not_links(
    new_person: NewPerson,
) -> None:
    label = f"Printer vendor {secrets.token_hex(3)}"
    alice = await new_person(STAFF, signed_in=True)
    _page, invitation = await alice.invite(label)
    guest = await new_person("guest@nowhere.example")
    guest_page = await guest.open(invitation)
    await guest_page.get_by_label("Secret", exact=True).fill("printer pin 1234")
    await guest.press(guest_page.get_by_role("button", name="Send secret"))
    await expect(guest_page.get_by_role("heading", name="Your secret was sent")).to_be_visible()

    page = await alice.open(alice.site.base_url + "/invitations")
    received = page.locator("#received").get_by_role("listitem").filter(has_text=label)
    await alice.press(received.get_by_role("button", name="Reveal secret"))
    await expect(page.locator("pre.secret")).to_be_visible()
    page = await alice.open(alice.site.base_url + "/invitations")
    boxes = [
        await page.locator(selector).bounding_box()
        for selector in ("#invite", "#open-invitations", "#received")
    ]
    for upper, lower in itertools.pairwise(boxes):
        assert upper is not None
        assert lower is not None
        assert lower["y"] - (upper["y"] + upper["height"]) >= 12, boxes
    opened = page.locator("#received").get_by_role("listitem").filter(has_text=label)
    state = opened.get_by_text("Opened by you at")
    a_link = page.get_by_role("navigation").get_by_role("link", name="My secrets")
    link_color = await a_link.evaluate("a => getComputedStyle(a).color")
    assert await state.evaluate("e => getComputedStyle(e).color") != link_color
    assert ZONE_NAME.search(await state.inner_text())


# 8. A private label tells the creator's secrets apart; nobody else ever sees it.
@one_setup(DESKTOP, NO_JAVASCRIPT)
async def test_private_label_is_shown_only_to_the_creator(new_person: NewPerson) -> None:
    tag = secrets.token_hex(3)  # the site is shared by set-ups and tests
    labels = [f"VPN for ticket 4711 {tag}", f"Wi-Fi for the demo room {tag}"]
    alice = await new_person(STAFF, signed_in=True)
    links = []
    for label in labels:
        page = await alice.home()
        links.append(
            await alice.create_secret(page, "same customer", recipient_email=CUSTOMER, label=label)
        )

    page = await alice.open(alice.site.base_url + "/dashboard")
    for label, link in zip(labels, links, strict=True):
        await expect(page.locator(f"#secret-{secret_id(link)}")).to_contain_text(label)
    page = await alice.open(f"{alice.site.base_url}/dashboard/secrets/{secret_id(links[0])}/trail")
    await expect(page.get_by_text(labels[0])).to_be_visible()

    bob = await new_person(CUSTOMER, signed_in=True)
    page = await bob.open(links[0])
    await expect(page.get_by_role("heading", name="A secret is waiting for you")).to_be_visible()
    assert tag not in await page.content()
    await expect(await bob.reveal(page, links[0])).to_have_text("same customer")
    assert tag not in await page.content()
    assert tag not in await audit_text(alice.site, secret_id(links[0]))


# 9. Revoking asks first: inline with scripts, on a page of its own without; "No" changes nothing.
@one_setup(DESKTOP, NO_JAVASCRIPT)
async def test_revoke_asks_first_and_no_keeps_the_secret(
    setup: Setup, new_person: NewPerson
) -> None:
    alice, link = await staff_shares(new_person)
    sid = secret_id(link)
    page = await alice.open(alice.site.base_url + "/dashboard")
    await alice.press(page.locator(f"#secret-{sid}").get_by_role("button", name="Revoke"))
    question = page.locator("main").get_by_text("Really revoke?")  # not the live region
    await expect(question).to_be_visible()
    if setup.javascript:
        assert page.url.endswith("/dashboard")  # asked in place
    else:
        await expect(page.get_by_role("heading", name="Revoke this secret?")).to_be_visible()
    assert "secret.revoked" not in await audit_actions(alice.site, sid)

    await alice.press(page.get_by_role("link", name="No, keep it"))
    row = page.locator(f"#secret-{sid}")
    await expect(row.get_by_text("Waiting")).to_be_visible()
    await expect(question).to_have_count(0)
    assert await views_left(alice.site, sid) == 1
    assert "secret.revoked" not in await audit_actions(alice.site, sid)

    await alice.press(row.get_by_role("button", name="Revoke"))
    await alice.press(page.get_by_role("button", name="Yes, revoke"))
    await expect(page.locator(f"#secret-{sid}").get_by_text("Revoked").first).to_be_visible()
    assert "secret.revoked" in await audit_actions(alice.site, sid)


# 10. The wrong account gets a button to sign in with another one, back to the same link.
@one_setup(DESKTOP, NO_JAVASCRIPT)
async def test_wrong_account_can_sign_in_with_another_account(new_person: NewPerson) -> None:
    _alice, link = await staff_shares(new_person, "meant for bob only")
    carol = await new_person(OTHER_CUSTOMER)
    page = await carol.open(link)
    await carol.sign_in(page)
    await expect(page.get_by_role("heading", name="meant for someone else")).to_be_visible()
    await set_claims(carol.site, CUSTOMER)  # whoever signs in next at the provider is Bob
    await carol.press(page.get_by_role("button", name="Sign in with another account"))
    await page.wait_for_url(f"{carol.site.issuer}/**")
    await page.locator("input[name=sub]").fill(CUSTOMER)
    await carol.press(page.get_by_role("button", name="Authorize"))
    await page.wait_for_url(f"{carol.site.base_url}/s/{secret_id(link)}")
    await expect(page.get_by_role("heading", name="A secret is waiting for you")).to_be_visible()
    # With scripts the key from the fragment survived the round trip (sessionStorage).
    await expect(await carol.reveal(page, link)).to_have_text("meant for bob only")


# 11. An account language Safe Share does not offer: the browser's languages, and a choice.
@one_setup(
    Setup("desktop-de", DESKTOP.viewport, locale="de-DE"),
    Setup("nojs-de", NO_JAVASCRIPT.viewport, javascript=False, locale="de-DE"),
)
async def test_unoffered_account_language_falls_back_to_browser_and_offers_a_choice(
    new_person: NewPerson,
) -> None:
    person = await new_person("francoise@example.fr")
    await set_claims(person.site, person.email, locale="fr-FR")
    page = await person.home()
    await expect(page.get_by_role("heading", name="Ein Geheimnis sicher teilen")).to_be_visible()
    await person.press(page.get_by_role("link", name="Mit Prowise Account anmelden"))
    await page.locator("input[name=sub]").fill(person.email)
    await person.press(page.get_by_role("button", name="Authorize"))
    # Signed in as a French-speaking account: still German (the browser), not English.
    await expect(page.get_by_role("heading", name="Ein Geheimnis teilen")).to_be_visible()
    menu = page.locator("#account-menu")
    await person.press(menu.locator("summary"))
    await menu.get_by_label("Sprache").select_option("nl")
    await person.press(menu.get_by_role("button", name="Ändern"))
    await expect(page.get_by_role("heading", name="Een geheim delen")).to_be_visible()


# 12. Absolute times say which zone they are in, with scripts (browser zone) and without.
@one_setup(DESKTOP, NO_JAVASCRIPT)
async def test_absolute_times_name_their_zone(new_person: NewPerson) -> None:
    alice, link = await staff_shares(new_person)
    page = alice.pages[-1]
    until = await page.locator("#create p").first.inner_text()
    assert ZONE_NAME.search(until), until
    page = await alice.open(alice.site.base_url + "/dashboard")
    title = await page.locator(f"#secret-{secret_id(link)} time").first.get_attribute("title")
    assert title is not None
    assert ZONE_NAME.search(title), title
