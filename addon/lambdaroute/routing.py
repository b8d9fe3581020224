"""Kong's router: which route, if any, a request matches.

SKELETON: interface agreed; implementation by the config+routing helper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .config import Route
from .snapshot import RouteContext


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    context: RouteContext


class Router:
    """Compiled once per config load; ``match`` is on every flow's hot path."""

    def __init__(self, routes: Sequence[Route]) -> None:
        raise NotImplementedError

    def match(
        self,
        *,
        method: str,
        scheme: str,
        host: str,
        port: int,
        path: str,
        headers: Sequence[tuple[str, str]],
    ) -> RouteMatch | None:
        """The best route for the request by Kong's precedence, or None.

        ``host`` is lower-case without port; ``path`` is the raw path without query.
        """
        raise NotImplementedError
