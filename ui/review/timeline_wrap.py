"""Word wrap for a tree's text column: every line of the review timeline readable in full.

``QTreeView.setWordWrap`` alone still elides ("The full back overl…"): a row's
height comes from a size hint computed without the column's width. This delegate
measures the text wrapped to the column's width, and the rows are laid out again
whenever the column changes width (the window or the splitter resized).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QTreeView

_PAD = 8  # the delegate's margins around the text


class WrapDelegate(QStyledItemDelegate):
    """Sizes the cells of ``column`` to their text wrapped at the column's width."""

    def __init__(self, tree: QTreeView, column: int) -> None:
        super().__init__(tree)
        self.tree, self.column = tree, column

    def sizeHint(self, option, index) -> QSize:
        hint = super().sizeHint(option, index)
        if index.column() != self.column:
            return hint
        width = max(40, self.tree.header().sectionSize(self.column) - _PAD)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        flags = int(Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft)
        bounds = option.fontMetrics.boundingRect(QRect(0, 0, width, 1 << 20), flags, text)
        return QSize(width, max(hint.height(), bounds.height() + _PAD // 2))


def wrap_column(tree: QTreeView, column: int) -> WrapDelegate:
    """Show ``column`` of ``tree`` wrapped, never elided; rows follow the column's width."""
    delegate = WrapDelegate(tree, column)
    tree.setItemDelegateForColumn(column, delegate)
    tree.setWordWrap(True)
    tree.setTextElideMode(Qt.TextElideMode.ElideNone)
    tree.setUniformRowHeights(False)
    tree.header().sectionResized.connect(lambda index, _old, _new: index == column and tree.doItemsLayout())
    return delegate
