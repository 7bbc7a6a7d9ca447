"""What every editing tab of the metadata widget has: its session, showing a Meta, marking refused text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from magicgui.widgets import Container
from magicgui.widgets.bases import ValueWidget

from mlarray.meta import Meta

from ._session import EditSession

__all__ = ["Tab", "quiet"]

_REFUSED_STYLE = "border: 1px solid #ff6b6b;"


@contextmanager
def quiet(*widgets: ValueWidget[Any]) -> Iterator[None]:
    """Set ``widgets`` from code without their ``changed`` handlers applying the values back."""
    with ExitStack() as stack:
        for w in widgets:
            stack.enter_context(w.changed.blocked())
        yield


class Tab(Container):
    """A tab of the metadata widget: a container working on the layer of ``session``.

    ``key`` names the tab in refusal messages ("the spatial field holds text that was refused").
    """

    key = ""

    def __init__(self, session: EditSession, widgets: Sequence[Any], *, labels: bool = False) -> None:
        super().__init__(widgets=widgets, labels=labels)
        self.session = session

    def load(self, meta: Meta) -> None:
        """Show ``meta`` in the tab's fields (nothing is applied back); a refused field is cleared."""
        self._mark(False)

    def fields(self) -> list[ValueWidget[Any]]:
        """The fields framed as refused when their text is refused."""
        return []

    def refuse(self, text: str) -> None:
        """Keep the refused text in the fields, framed, and make Save refuse until it is fixed."""
        self.session.refuse(self.key, text)
        self._mark(True)

    def accept(self) -> None:
        self.session.accept(self.key)
        self._mark(False)

    def _mark(self, refused: bool) -> None:
        for w in self.fields():
            w.native.setStyleSheet(_REFUSED_STYLE if refused else "")
