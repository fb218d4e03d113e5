"""The layout rules both apps' pages are held to, measured in the page by one script.

``await page.evaluate(LAYOUT, {"blocks": ..., "header": ..., "cells": ..., "targets": ...})`` with CSS
selectors: ``blocks`` (the page's main boxes) must not overlap each other nor leave the viewport,
``header`` children must not overlap, ``cells`` must not clip their text, and ``targets`` (buttons,
links) must be at least 44 px square unless marked ``.btn-small``.
"""
from __future__ import annotations

LAYOUT = """(sel) => {
  const visible = (el) => el.offsetParent !== null || getComputedStyle(el).position === "fixed";
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left + scrollX, top: r.top + scrollY, right: r.right + scrollX, bottom: r.bottom + scrollY };
  };
  const name = (el) => el.id || el.className || el.tagName;
  const overlapping = (items) => {
    const out = [];
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        const a = items[i].box, b = items[j].box;
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) {
          out.push(`${items[i].name} / ${items[j].name}`);
        }
      }
    }
    return out;
  };
  const blocks = [...document.querySelectorAll(sel.blocks)].filter(visible).map((el) => ({ name: name(el), box: box(el) }));
  const header = [...document.querySelectorAll(sel.header)].filter(visible).map((el) => ({ name: name(el), box: box(el) }));
  const clipped = [...document.querySelectorAll(sel.cells)].filter(visible)
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => `${el.className}: ${el.textContent.slice(0, 50)} (${el.scrollWidth} > ${el.clientWidth})`);
  const smallTargets = [...document.querySelectorAll(sel.targets)].filter(visible)
    .filter((el) => !el.classList.contains("btn-small"))
    .filter((el) => { const r = el.getBoundingClientRect(); return r.height < 43.5 || r.width < 43.5; })
    .map((el) => el.textContent.trim());
  return {
    innerWidth, scrollWidth: document.documentElement.scrollWidth,
    blocks: blocks.map((b) => b.name),
    blockOverlaps: overlapping(blocks),
    beyondViewport: blocks.filter((b) => b.box.left < -0.5 || b.box.right > innerWidth + 0.5).map((b) => b.name),
    headerOverlaps: overlapping(header),
    clipped,
    smallTargets,
  };
}"""


def layout_problems(layout: dict[str, object]) -> dict[str, object]:
    """The rules ``layout`` breaks (empty when it keeps them all), with what breaks them."""
    broken: dict[str, object] = {k: layout[k] for k in ("blockOverlaps", "beyondViewport", "headerOverlaps",
                                                          "clipped", "smallTargets") if layout[k]}
    if int(layout["scrollWidth"]) > int(layout["innerWidth"]) + 1:  # type: ignore[call-overload]
        broken["horizontalScroll"] = (layout["scrollWidth"], layout["innerWidth"])
    return broken
