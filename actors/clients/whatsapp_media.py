"""Inbound media from the WhatsApp Cloud API, for the inbox to show.

Two calls, each with the tenant's token: GET {base}/{media-id} answers JSON whose `url` is valid
for minutes, then GET that url answers the bytes. Transient failures (timeouts, dropped
connections, 429 and 5xx) are retried a few times with backoff before any byte reaches the
caller; a provider that says the media is gone raises MediaGone, every other refusal
MediaRefused. Exceptions carry statuses and codes, never the token or Meta's URL.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx

from domain.errors import PermanentError, RecadoError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)
# Meta's own limits are 5 MB for images and 16 MB for audio and video.
MAX_BYTES = 16 * 1024 * 1024
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2  # doubled after each failed attempt
# A person waits for the page's image: no new attempt starts this long after the first.
RETRY_WINDOW_SECONDS = 15.0
CHUNK_BYTES = 64 * 1024
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Graph answers an id it does not know (or no longer keeps) with 400, error code 100.
_UNKNOWN_OBJECT = 100


class MediaGone(PermanentError):
    """The provider has no such media (any more)."""


class MediaRefused(RecadoError):
    """The media could not be fetched; `kind` says why (one of REFUSAL_KINDS)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


# too_large: over MAX_BYTES; token: the tenant's token was refused; unreachable: timeouts,
# connection failures or 5xx after every attempt; bad_answer: a reply we cannot use.
REFUSAL_KINDS = ("too_large", "token", "unreachable", "bad_answer")


@dataclass(frozen=True)
class MediaInfo:
    mime_type: str | None
    size: int | None


class MediaDownload:
    """An open download: iterate `chunks()` once, then close (or use `with`)."""

    def __init__(self, client: httpx.Client, response: httpx.Response, info: MediaInfo) -> None:
        self._client = client
        self._response = response
        self.info = info

    def chunks(self) -> Iterator[bytes]:
        sent = 0
        try:
            for chunk in self._response.iter_bytes(CHUNK_BYTES):
                sent += len(chunk)
                if sent > MAX_BYTES:
                    # Only a provider that understated the size gets here: the answer is cut.
                    logger.warning("media larger than announced: cut at %s bytes", MAX_BYTES)
                    return
                yield chunk
        except httpx.HTTPError as exc:
            logger.warning("media download interrupted: %s", type(exc).__name__)
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_media(
    base_url: str,
    access_token: str,
    media_id: str,
    *,
    phone_number_id: str | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> MediaDownload:
    """Start downloading `media_id`; raises MediaGone or MediaRefused."""
    give_up_at = time.monotonic() + RETRY_WINDOW_SECONDS
    client = httpx.Client(
        transport=httpx.HTTPTransport(retries=0),
        timeout=timeout,
        # Meta's media URLs may redirect to its CDN; httpx drops the token on a change of host.
        follow_redirects=True,
        headers={"Authorization": f"Bearer {access_token}"},
    )
    try:
        params = {"phone_number_id": phone_number_id} if phone_number_id else None
        meta = _attempts(
            lambda: client.get(f"{base_url.rstrip('/')}/{media_id}", params=params), give_up_at
        )
        try:
            document = meta.json()
            url = document["url"]
            size = document.get("file_size")
            size = int(size) if size is not None else None
        except (ValueError, KeyError, TypeError):
            raise MediaRefused("bad_answer", "no media url") from None
        if not isinstance(url, str) or httpx.URL(url).scheme not in ("http", "https"):
            raise MediaRefused("bad_answer", "no media url")
        if size is not None and size > MAX_BYTES:
            raise MediaRefused("too_large", f"{size} bytes")
        response = _attempts(
            lambda: client.send(client.build_request("GET", url), stream=True), give_up_at
        )
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > MAX_BYTES:
            response.close()
            raise MediaRefused("too_large", f"{length} bytes")
        mime = response.headers.get("Content-Type") or document.get("mime_type")
        if length is not None and length.isdigit():
            size = int(length)
        return MediaDownload(client, response, MediaInfo(mime, size))
    except BaseException:
        client.close()
        raise


def _attempts(call: Callable[[], httpx.Response], give_up_at: float) -> httpx.Response:
    """The 2xx answer of `call`, retried for transient failures until `give_up_at`."""
    for attempt in range(ATTEMPTS):
        try:
            response = call()
        except httpx.TimeoutException:
            reason = "timeout"
        except httpx.TransportError as exc:
            reason = type(exc).__name__
        else:
            if response.is_success:
                return response
            response.read()
            if response.status_code not in _RETRYABLE_STATUS:
                response.close()
                raise _refusal(response)
            response.close()
            reason = f"HTTP {response.status_code}"
        logger.warning("media fetch attempt %s of %s: %s", attempt + 1, ATTEMPTS, reason)
        backoff = BACKOFF_SECONDS * 2**attempt
        if attempt == ATTEMPTS - 1 or time.monotonic() + backoff > give_up_at:
            raise MediaRefused("unreachable", reason)
        time.sleep(backoff)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _refusal(response: httpx.Response) -> RecadoError:
    code = None
    try:
        error = response.json().get("error")
        code = error.get("code") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        pass
    status = response.status_code
    logger.warning("media fetch refused: HTTP %s, code %s", status, code)
    if status in (404, 410) or (status == 400 and code == _UNKNOWN_OBJECT):
        return MediaGone(f"HTTP {status}")
    if status in (401, 403) or code == 190:
        return MediaRefused("token", f"HTTP {status}")
    return MediaRefused("bad_answer", f"HTTP {status}, code {code}")
