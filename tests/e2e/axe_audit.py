"""axe-core audits of a page in the states a browser test brings it to: no serious or critical violation (WCAG 2.2
AA contrast, names, roles, landmarks). axe-core comes with `axe-playwright-python` (its axe.min.js is injected into
the page: nothing is downloaded); no rule is switched off. With a dialog open (a state named `dialog-…`), axe checks
the dialog: the page behind it is modal (aria-modal), dimmed on purpose, and is checked on its own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

#: What counts: axe's two highest impacts (moderate and minor ones are reported by axe, not failed here).
FAILING = ('serious', 'critical')
AXE = Axe()
#: The page's socket is up (NiceGUI's handshake done) and the page does not show a lost connection; the plain login
#: page (no NiceGUI app on it) has no socket to wait for.
CONNECTED = (
    "!document.getElementById('app') || "
    '(window.socket?.connected && window.did_handshake && !document.documentElement.dataset.nfLink)'
)


class Audit:
    """Runs axe on a page in each state the test brings it to; keeps every failing finding (and a picture)."""

    def __init__(self, page: Page, size: str, shots: Path) -> None:
        self.page = page
        self.size = size
        self.shots = shots
        self.findings: list[str] = []
        self.checked: list[str] = []
        self.second_opinions: list[str] = []

    async def check(self, state: str) -> None:
        await settled(self.page)
        await self.page.screenshot(path=self.shots / f'a11y-{self.size}-{state}.png')
        dialog = state.startswith('dialog-')
        started = time.monotonic()
        results = await AXE.run(self.page, context='.q-dialog' if dialog else None)
        self.checked.append(f'{state} {time.monotonic() - started:.1f}s')
        # a long run blocks the page (seconds on a busy machine): its socket may have dropped meanwhile
        await self.page.wait_for_function(CONNECTED, timeout=20_000)
        for violation in results.response['violations']:
            if violation['id'] == 'color-contrast':
                violation['nodes'] = [n for n in violation['nodes'] if not await self.painted_contrast_ok(n)]
            if violation['impact'] in FAILING and violation['nodes']:
                self.findings.append(describe(f'{self.size} {state}', violation))

    async def painted_contrast_ok(self, node: dict[str, Any]) -> bool:
        """Whether the browser paints this text at AA contrast after all: a second opinion on an axe finding.

        axe guesses the background from its own model of the page's layers, and in some dialogs it skips the button
        under the text (it reports the dimmed page behind the dialog: 1.05:1 for dark text on a blue button that
        measures 7:1). Here the layers are Chromium's own (elementsFromPoint); a finding stands unless the text sits
        on an opaque background, with no translucent layer between, at 4.5:1 or more.
        """
        target = node['target'][0] if isinstance(node['target'][0], str) else None
        ratio = await self.page.evaluate(PAINTED_CONTRAST, target) if target else None
        if ratio is not None and ratio >= 4.5:
            self.second_opinions.append(f'{target}: {ratio:.1f}:1 (axe said {node["any"][0]["data"]["bgColor"]})')
            return True
        return False


#: Contrast of an element's text against the first opaque background under its centre, as Chromium paints the layers
#: (null when a translucent layer or a colour this cannot read is in the way: the axe finding then stands).
PAINTED_CONTRAST = """(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const rgb = (c) => (c.startsWith('rgb') ? c.match(/[\\d.]+/g).map(Number) : null);
  const fg = rgb(getComputedStyle(el).color);
  const box = el.getBoundingClientRect();
  let bg = null;
  for (const layer of document.elementsFromPoint(box.x + box.width / 2, box.y + box.height / 2)) {
    const c = rgb(getComputedStyle(layer).backgroundColor);
    if (!c) return null;
    if (c.length === 3 || c[3] === 1) { bg = c; break; }
    if (c[3] > 0 || getComputedStyle(layer).backgroundImage !== 'none') return null;
  }
  if (!fg || fg.length > 3 && fg[3] < 1 || !bg) return null;
  const linear = (v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}"""


def describe(where: str, violation: dict[str, Any]) -> str:
    nodes = '\n'.join(
        f'    {node["html"][:160]}: {node.get("failureSummary", "").splitlines()[-1:]}'
        for node in violation['nodes'][:8]
    )
    return f'{where}: {violation["id"]} ({violation["impact"]}) {violation["help"]}\n{nodes}'


async def settled(page: Page) -> None:
    """Dialogs and menus have finished their entry transitions (axe measures colours as they are now)."""
    await page.wait_for_function(
        '!document.querySelector(\'[class*="q-transition--"][class*="-active"], .q-menu--animating\')'
    )
    await page.mouse.move(0, 0)
