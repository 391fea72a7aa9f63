"""The words of a notification, in the resident's language (sv default, en).

What leaves the region (SMS, e-mail, the file channel) is content-free: it says only that
there is something to read in Egen provhantering — no health information, not even the
package's name. The in-app inbox, behind the resident's login, says what kind of message
it is, still without naming a package or an analysis.
"""

LANGUAGES = ("sv", "en")
SERVICE_NAME = "Egen provhantering"

# (subject, body) of an SMS or e-mail; the SMS carries the body only
OUTGOING = {
    "message": {
        "sv": (
            f"Nytt meddelande i {SERVICE_NAME}",
            f"Du har ett nytt meddelande i {SERVICE_NAME}. Logga in för att läsa det.",
        ),
        "en": (
            f"New message in {SERVICE_NAME}",
            f"You have a new message in {SERVICE_NAME}. Log in to read it.",
        ),
    },
    "reminder": {
        "sv": (
            f"Påminnelse från {SERVICE_NAME}",
            f"Du har en påminnelse i {SERVICE_NAME}. Logga in för att läsa den.",
        ),
        "en": (
            f"Reminder from {SERVICE_NAME}",
            f"You have a reminder in {SERVICE_NAME}. Log in to read it.",
        ),
    },
}

# (subject, body) of the in-app inbox message, by notification kind
INBOX = {
    "result": {
        "sv": (
            "Dina provsvar är klara",
            "Dina provsvar är klara. Du hittar dem under Mina provsvar.",
        ),
        "en": ("Your results are ready", "Your results are ready. You find them under My results."),
    },
    "reminder:offer-not-ordered": {
        "sv": (
            "Du har ett erbjudande",
            "Du har ett erbjudande om provtagning som du inte har beställt ännu.",
        ),
        "en": (
            "You have an offer",
            "You have an offer of sampling that you have not ordered yet.",
        ),
    },
    "reminder:order-expiring": {
        "sv": (
            "Din beställning går snart ut",
            "Din beställning går snart ut. Lämna dina prover innan dess.",
        ),
        "en": (
            "Your order expires soon",
            "Your order expires soon. Leave your samples before then.",
        ),
    },
    "reminder:kit-not-registered": {
        "sv": (
            "Registrera ditt provtagningskit",
            "Du har inte registrerat ditt provtagningskit ännu.",
        ),
        "en": (
            "Register your sampling kit",
            "You have not registered your sampling kit yet.",
        ),
    },
    "reminder:offer-due-again": {
        "sv": ("Dags att beställa igen", "Det är dags att beställa provtagning igen."),
        "en": ("Time to order again", "It is time to order sampling again."),
    },
}


def language_of(value: str | None) -> str:
    """Return the resident's language, Swedish unless it is one EP speaks."""
    return value if value in LANGUAGES else "sv"


def outgoing_text(kind: str, language: str) -> tuple[str, str]:
    """Return the content-free (subject, body) sent by SMS, e-mail or file."""
    group = "reminder" if kind.startswith("reminder") else "message"
    return OUTGOING[group][language_of(language)]


LOGIN_LINE = {"sv": "Logga in: {url}", "en": "Log in: {url}"}


def with_login_link(body: str, public_url: str, language: str) -> str:
    """The body with the line that takes the resident to EP (PublicUrl), when one is set.

    The link is EP's own start page, never a page about a result or an order: what it
    opens needs the resident's login, and the link itself says nothing.
    """
    if not public_url:
        return body
    return f"{body}\n{LOGIN_LINE[language_of(language)].format(url=public_url)}"


def inbox_text(kind: str, language: str) -> tuple[str, str]:
    """Return the (subject, body) of the in-app inbox message for ``kind``."""
    texts = INBOX.get(kind)
    if texts is None:
        return outgoing_text(kind, language)
    return texts[language_of(language)]


# each stored inbox text (in either language) -> its texts in every language, so a message
# written when the resident read Swedish is shown in English once they choose English
_TEXTS_OF = {
    text: texts
    for texts in (*INBOX.values(), *OUTGOING.values())
    for text in (texts["sv"], texts["en"])
}


def inbox_text_in(subject: str, body: str, language: str) -> tuple[str, str]:
    """Return a stored inbox message's (subject, body) in ``language``; a text EP did not
    write itself (or wrote in words since changed) is returned as it was stored."""
    texts = _TEXTS_OF.get((subject, body))
    if texts is None:
        return subject, body
    return texts[language_of(language)]
