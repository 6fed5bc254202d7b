"""Switching a TabbedContent's tab from a key binding."""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane


def switch_tab(tabbed: TabbedContent, pane_id: str, focus: Widget | None = None) -> None:
    """Show `pane_id` and move focus out of the pane being hidden.

    TabbedContent re-activates the pane holding the focused widget, so focus must follow: to `focus`
    when given, else to the first focusable widget of the new pane, else nowhere.
    """
    tabbed.active = pane_id
    pane = tabbed.get_pane(pane_id)
    target = focus
    if target is None:
        target = next((w for w in pane.query("*") if w.focusable), None)
    screen = tabbed.screen
    focused = screen.focused
    if target is not None:
        target.focus()
    elif focused is not None and _inside_other_pane(focused, pane):
        screen.set_focus(None)


def _inside_other_pane(widget: Widget, pane: TabPane) -> bool:
    node = widget.parent
    while node is not None:
        if isinstance(node, TabPane):
            return node is not pane
        node = node.parent
    return False
