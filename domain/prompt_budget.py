"""Fitting a conversation into the model's prompt: bounded by size, never by count.

Each message's text is capped (its head and tail kept around a visible marker of what was cut).
When the conversation still exceeds its budget, earlier context leaves first, oldest first; then
the oldest unanswered messages shrink to a line each. An unanswered message is never left out
silently: only when even one line per message does not fit are the oldest folded into a single
line that says how many there were. What was cut is counted for the reply's audit record; the
stored messages are never touched.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from domain.conversation import ContextMessage
from domain.prompts import message_text

# A message shortened to make room keeps this much: its start and its end.
LINE_CHARS = 160
# Below this a capped message is little more than its marker.
MIN_MESSAGE_CHARS = 400


@dataclass(frozen=True)
class PromptBudget:
    # Characters of one message's text sent to the model (and read by the local rules).
    message_chars: int = 4000
    # Characters of conversation (the customer's and the business's messages) in one prompt;
    # the instructions and business facts come on top.
    conversation_chars: int = 16000

    def __post_init__(self) -> None:
        if self.message_chars < MIN_MESSAGE_CHARS:
            raise ValueError(f"the per-message budget must be at least {MIN_MESSAGE_CHARS}")
        if self.conversation_chars < self.message_chars:
            raise ValueError("the conversation budget must be at least the per-message one")


@dataclass(frozen=True)
class Fitted:
    """Messages as sent, and what was cut: messages shortened or left out, and the characters
    removed from what the model would otherwise have read (markers not counted)."""

    messages: tuple[ContextMessage, ...]
    messages_cut: int = 0
    chars_cut: int = 0


def cut_marker(chars: int) -> str:
    return f"[… {chars} characters cut …]"


def cap_text(text: str, limit: int) -> tuple[str, int]:
    """`text` in at most `limit` characters (its head and tail around a marker of the cut), and
    how many of its characters were cut."""
    if len(text) <= limit:
        return text, 0
    # The marker for the whole text is at least as long as the one finally written.
    keep = max(limit - len(cut_marker(len(text))) - 2, 0)
    head, tail = text[: keep - keep // 2], text[len(text) - keep // 2 :]
    cut = len(text) - len(head) - len(tail)
    return f"{head}\n{cut_marker(cut)}\n{tail}", cut


def cap_messages(messages: Sequence[ContextMessage], limit: int) -> Fitted:
    """Each message's text capped at `limit`: what the local rules read."""
    capped = [_capped(m, limit) for m in messages]
    cuts = [cut for _, cut in capped if cut]
    return Fitted(tuple(m for m, _ in capped), len(cuts), sum(cuts))


def fit_conversation(
    history: Sequence[ContextMessage], unanswered: Collection[int], budget: PromptBudget
) -> Fitted:
    """`history` (oldest first) within the budget; `unanswered` are the ids of the customer's
    messages this reply answers, each of which keeps at least a line."""
    limit = budget.conversation_chars
    originals = {m.id: m for m in history}
    cut: dict[int, int] = {}  # message id -> characters of its text cut
    kept: list[ContextMessage] = []
    for message in history:
        capped, cut[message.id] = _capped(message, budget.message_chars)
        kept.append(capped)
    size = sum(_size(m) for m in kept)
    # Earlier context was answered already: the oldest leaves first.
    for message in [m for m in kept if m.id not in unanswered]:
        if size <= limit:
            break
        kept.remove(message)
        size -= _size(message)
        cut[message.id] = len(message_text(originals[message.id]))
    # Then the oldest unanswered messages shrink to a line, so the newest stay whole longest.
    for i, message in enumerate(kept):
        if size <= limit:
            break
        kept[i], cut[message.id] = _capped(originals[message.id], LINE_CHARS)
        size += _size(kept[i]) - _size(message)
    # Past one line per message, the oldest lines fold into one that counts them.
    folded: list[ContextMessage] = []
    while size + len(_fold_line(folded)) > limit and len(kept) > 1:
        message = kept.pop(0)
        folded.append(message)
        size -= _size(message)
        cut[message.id] = len(message_text(originals[message.id]))
    if folded:
        kept.insert(0, replace(folded[0], direction="in", type="text", text=_fold_line(folded)))
    cuts = [n for n in cut.values() if n]
    return Fitted(tuple(kept), len(cuts), sum(cuts))


def _capped(message: ContextMessage, limit: int) -> tuple[ContextMessage, int]:
    if message.text is None:
        return message, 0
    text, cut = cap_text(message.text, limit)
    return (replace(message, text=text) if cut else message), cut


def _size(message: ContextMessage) -> int:
    return len(message_text(message))


def _fold_line(folded: Sequence[ContextMessage]) -> str:
    """The line standing for the oldest unanswered messages when not even a line each fits."""
    if not folded:
        return ""
    return f"[… {len(folded)} earlier messages of this burst cut to fit …]"
