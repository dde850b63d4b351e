"""What a chat provider is asked: the conversation so far and the sampling settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[dict[str, str], ...]
    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    resumable: bool = False

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""
