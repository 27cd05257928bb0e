"""The roster: who can take calls, on which lines, and whether they passed the exam (2(1))."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Engineer:
    name: str  # roster name, used in greetings (3.4(a)) and in the console
    sip: str  # "sip:user@host:port" (static phone) or "user" (registered at the registrar)
    certified: bool = False
    available: bool = True
    lines: tuple[str, ...] = ()


class Roster:
    def __init__(self, engineers: list[Engineer]) -> None:
        self.engineers = list(engineers)
        self._by_name = {e.name: e for e in engineers}

    def get(self, name: str) -> Engineer | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return [e.name for e in self.engineers]
