"""A lazily built, searchable tree of a JSON value (the metadata widget's Source and Layout tabs)."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

from qtpy.QtCore import QSignalBlocker, Qt, QTimer
from qtpy.QtWidgets import QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

__all__ = ["LazyTree"]


def _is_container(v: Any) -> bool:
    return isinstance(v, (dict, list, tuple)) and len(v) > 0


def _short(v: Any, limit: int = 120) -> str:
    if isinstance(v, dict):
        return f"{{{len(v)} keys}}"
    if isinstance(v, (list, tuple)):
        if len(v) <= 8 and not any(isinstance(x, (dict, list, tuple)) for x in v):
            s = json.dumps(list(v), default=str)
            return s if len(s) <= limit else s[: limit - 1] + "…"
        return f"[{len(v)} items]"
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _children(v: Any) -> list[tuple[str, Any]]:
    if isinstance(v, dict):
        return [(str(k), x) for k, x in v.items()]
    return [(f"[{i}]", x) for i, x in enumerate(v)]


class LazyTree(QWidget):
    """A read-only, searchable tree of a JSON value that builds items only when they are shown.

    Top-level keys are created at once (capped at ``page`` items with a "more" row); children are
    created when their parent is expanded. Typing in the search box (debounced) lists matching
    ``path = value`` rows — at most ``max_hits`` — instead of the tree.
    """

    MORE = "__more__"

    def __init__(self, parent: Optional[QWidget] = None, page: int = 500, max_hits: int = 300) -> None:
        super().__init__(parent)
        self.page, self.max_hits = page, max_hits
        self._value: Any = {}
        self._flat: Optional[list[tuple[str, str]]] = None
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("search keys and values…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["key", "value"])
        self.tree.setUniformRowHeights(True)
        self.tree.setColumnWidth(0, 170)
        self.info = QLabel(self)
        self.info.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.search)
        lay.addWidget(self.tree)
        lay.addWidget(self.info)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.tree.itemExpanded.connect(self._on_expanded)
        self.tree.itemClicked.connect(self._on_clicked)
        self.last_build_ms = 0.0

    # -- public -------------------------------------------------------------
    def set_value(self, value: Any) -> None:
        t0 = time.perf_counter()
        self._value = value if value is not None else {}
        self._flat = None
        with QSignalBlocker(self.search):  # a new value clears the search without filtering the old one
            self.search.clear()
        self._show_tree()
        self.last_build_ms = (time.perf_counter() - t0) * 1000
        n = len(self._value) if isinstance(self._value, (dict, list)) else 0
        self.info.setText(f"{n} top-level entries" if n else "empty")

    def set_filter(self, text: str) -> None:
        """Set the search text and filter now (the search box debounces typing)."""
        self.search.setText(text)
        self._timer.stop()
        self._apply_filter()

    # -- tree ---------------------------------------------------------------
    def _show_tree(self) -> None:
        self.tree.clear()
        self.tree.setRootIsDecorated(True)
        root = self.tree.invisibleRootItem()
        if root is not None and _is_container(self._value):
            self._add_children(root, self._value, 0)

    def _make_item(self, parent: QTreeWidgetItem, key: str, v: Any) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [key, _short(v)])
        if _is_container(v):
            item.setData(0, Qt.ItemDataRole.UserRole, v)
            QTreeWidgetItem(item, ["…", ""])  # placeholder: makes the node expandable
        return item

    def _add_children(self, parent: QTreeWidgetItem, v: Any, start: int) -> None:
        kids = _children(v)
        stop = min(len(kids), start + self.page)
        self.tree.setUpdatesEnabled(False)
        try:
            for key, x in kids[start:stop]:
                self._make_item(parent, key, x)
            if stop < len(kids):
                more = QTreeWidgetItem(parent, [f"… {len(kids) - stop} more (click)", ""])
                more.setData(0, Qt.ItemDataRole.UserRole, (self.MORE, v, stop))
        finally:
            self.tree.setUpdatesEnabled(True)

    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        v = item.data(0, Qt.ItemDataRole.UserRole)
        first = item.child(0)
        if v is None or item.childCount() != 1 or first is None or first.text(0) != "…":
            return
        item.takeChild(0)
        self._add_children(item, v, 0)

    def _on_clicked(self, item: QTreeWidgetItem, _col: int) -> None:
        d = item.data(0, Qt.ItemDataRole.UserRole)
        if isinstance(d, tuple) and len(d) == 3 and d[0] == self.MORE:
            parent = item.parent() or self.tree.invisibleRootItem()
            if parent is None:  # Qt's tree always has its invisible root (the bindings' types say Optional)
                return
            parent.removeChild(item)
            self._add_children(parent, d[1], d[2])

    # -- search -------------------------------------------------------------
    def _flatten(self) -> list[tuple[str, str]]:
        if self._flat is None:
            out: list[tuple[str, str]] = []
            stack: list[tuple[str, Any]] = [("", self._value)]
            while stack:
                prefix, v = stack.pop()
                if _is_container(v):
                    kids = _children(v)
                    for key, x in reversed(kids):
                        p = f"{prefix}{key}" if key.startswith("[") or not prefix else f"{prefix}.{key}"
                        stack.append((p, x))
                else:
                    out.append((prefix, _short(v, 400)))
            self._flat = out
        return self._flat

    def _apply_filter(self) -> None:
        text = self.search.text().strip().lower()
        if not text:
            self._show_tree()
            self.info.setText("")
            return
        hits: list[tuple[str, str]] = []
        total = 0
        for path, val in self._flatten():
            if text in path.lower() or text in val.lower():
                total += 1
                if len(hits) < self.max_hits:
                    hits.append((path, val))
        self.tree.setUpdatesEnabled(False)
        try:
            self.tree.clear()
            self.tree.setRootIsDecorated(False)
            for path, val in hits:
                QTreeWidgetItem(self.tree, [path, val])
        finally:
            self.tree.setUpdatesEnabled(True)
        more = f" (showing {len(hits)})" if total > len(hits) else ""
        self.info.setText(f"{total} match{'es' if total != 1 else ''}{more}")

    def visible_rows(self) -> list[tuple[str, str]]:
        root = self.tree.invisibleRootItem()
        rows = [] if root is None else [root.child(i) for i in range(root.childCount())]
        return [(row.text(0), row.text(1)) for row in rows if row is not None]

