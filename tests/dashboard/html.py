"""A small DOM for reading the dashboard's pages in tests without a browser.

The pages mark what a test checks with attributes (`data-k="balance"` on a cell, `data-holder`,
`data-worker`, ... on a row, `data-wei`/`data-units` with the exact amount), so a test finds the
same element in this tree as in Playwright, and compares exact integers rather than rounded text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join("".join(parts).split()) if self.tag == "#root" else "".join(parts)

    def all(self, attr: str, value: str | None = None) -> list[Node]:
        """Every element below with `attr` (equal to `value` when given), in document order."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if attr in child.attrs and (value is None or child.attrs[attr] == value):
                    found.append(child)
                found.extend(child.all(attr, value))
        return found

    def one(self, attr: str, value: str | None = None) -> Node:
        found = self.all(attr, value)
        assert len(found) == 1, f"{len(found)} elements with {attr}={value!r}"
        return found[0]

    def k(self, key: str) -> Node:
        """The one element marked data-k=`key` below this one."""
        return self.one("data-k", key)

    def wei(self, key: str) -> int:
        """The exact amount (wei or share base units) shown in the element marked `key`."""
        amount = self.k(key).all("data-wei") or self.k(key).all("data-units")
        assert len(amount) == 1, f"no single amount under data-k={key!r}"
        return int(amount[0].attrs.get("data-wei", amount[0].attrs.get("data-units", "")))

    def clean(self, key: str) -> str:
        return " ".join(self.k(key).text.split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
