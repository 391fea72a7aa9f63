"""The SMS channel: one JSON POST per message to the region's SMS gateway.

The request carries the bearer token (SmsGatewayToken), the sender (SmsSender), the
recipient's number, the content-free text and the dedupe key as the idempotency key —
both in the ``Idempotency-Key`` header and in the body — so a message repeated after a
crash is dropped by the gateway instead of reaching the phone twice.

What the gateway answers decides what happens next:

- 2xx: sent; the gateway's message id (``id`` or ``message_id`` in the JSON answer) is
  kept as the provider reference;
- 5xx, a timeout, a refused or broken connection: TransientDeliveryError (try later);
- 401, 403 (our token), 408, 409 (the same key still in progress at the gateway), 425,
  429 (slow down): TransientDeliveryError too — the fault is not the message's, and
  failing every message for good on a wrong token would lose them all;
- any other 4xx (say 400 invalid number): PermanentDeliveryError for this message.
"""

import http.client
import json
import urllib.error
import urllib.request

from ep.notify import OutgoingMessage, PermanentDeliveryError, TransientDeliveryError

RETRYABLE_4XX = {401, 403, 408, 409, 425, 429}
DETAIL_LENGTH = 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # a redirected POST would be replayed as a GET without its body: treat it as an error
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def send(message: OutgoingMessage, config) -> str | None:
    """POST ``message`` to the gateway; return the gateway's message id, if it gives one."""
    if not message.recipient:
        raise PermanentDeliveryError("no mobile number to send the SMS to")
    payload = {
        "from": config["SmsSender"],
        "to": message.recipient,
        "text": message.body,
        "idempotency_key": message.dedupe_key,
    }
    request = urllib.request.Request(
        config["SmsGatewayUrl"],
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Bearer {config['SmsGatewayToken']}",
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": message.dedupe_key,
        },
    )
    try:
        with _opener.open(request, timeout=config["ProviderTimeoutSeconds"]) as response:
            answer = response.read(65536)
    except urllib.error.HTTPError as exc:
        with exc:
            detail = _detail(exc.read(DETAIL_LENGTH))
        problem = f"SMS gateway answered {exc.code} {exc.reason}: {detail}".rstrip(": ")
        if exc.code >= 500 or exc.code in RETRYABLE_4XX or exc.code < 400:
            raise TransientDeliveryError(problem) from exc
        raise PermanentDeliveryError(problem) from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        # refused, reset, DNS, TLS and timeouts (TimeoutError is an OSError)
        reason = getattr(exc, "reason", None) or exc
        raise TransientDeliveryError(f"SMS gateway unreachable: {reason}") from exc
    return _message_id(answer)


def _detail(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())[:DETAIL_LENGTH]


def _message_id(answer: bytes) -> str | None:
    try:
        parsed = json.loads(answer or b"null")
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    value = parsed.get("id") or parsed.get("message_id") or parsed.get("messageId")
    return str(value) if value else None
