"""Readable on a stock browser (Debian's chromium, no emoji font installed): text is drawn in the bundled monospace,
an agent's emoji in the bundled emoji font (never as empty boxes), and an agent's colour too dark for the dark theme
is lightened until its host name reads at AA contrast. Which fonts drew a node's glyphs is Chromium's own answer
(DevTools' CSS.getPlatformFontsForNode)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import BROWSER_TESTS, AgentFactory, DashboardProcess, api, dashboard_tab, row
from tests.support import expect_command, send_output, send_status

pytestmark = BROWSER_TESTS

EMOJI_LINE = 'deployed 🚀 all checks ✅'


#: Any CSS colour (oklch included) as `rgb(r, g, b)`, the way a canvas reads it back.
RGB_OF = """(colour) => {
  const c = document.createElement('canvas').getContext('2d');
  c.fillStyle = colour;
  c.fillRect(0, 0, 1, 1);
  const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
  return `rgb(${r}, ${g}, ${b})`;
}"""


async def fonts_of(page: Page, selector: str) -> dict[str, dict[str, Any]]:
    """The fonts Chromium drew the text of the first node matching `selector` with, by family."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send('DOM.enable')
    await cdp.send('CSS.enable')
    root = await cdp.send('DOM.getDocument', {'depth': 0})
    node = await cdp.send('DOM.querySelector', {'nodeId': root['root']['nodeId'], 'selector': selector})
    fonts = await cdp.send('CSS.getPlatformFontsForNode', {'nodeId': node['nodeId']})
    await cdp.detach()
    return {font['familyName']: font for font in fonts['fonts']}


def luminance(rgb: str) -> float:
    channels = [int(part) / 255 for part in rgb[rgb.index('(') + 1 : rgb.index(')')].split(',')[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


async def test_text_and_agent_emoji_are_drawn_in_the_bundled_fonts(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    agent = await agents('web-01')
    await agent.heartbeat()
    tab = await dashboard_tab(dashboard_process, browser, ['web-01'])
    page = tab.page
    await api(page, dashboard_process.http, 'POST', '/api/dispatch', {'op': 'check-version', 'hosts': ['web-01']})
    assert await expect_command(agent) == 'check-version'
    await send_output(agent, EMOJI_LINE)
    await send_status(agent, 'check-version')
    await page.get_by_role('button', name='Actions for web-01').click()
    await page.get_by_role('menuitem', name='View output').click()
    line = page.locator('.nf-output-body .nf-ol-x', has_text='deployed')
    await expect(line).to_have_text(EMOJI_LINE)
    await page.evaluate('document.fonts.ready')

    title = await fonts_of(page, '.nf-card-title')
    assert list(title) == ['JetBrains Mono'] and title['JetBrains Mono']['isCustomFont'], title
    index = await page.evaluate(
        "[...document.querySelector('.nf-output-body').children].findIndex(e => e.textContent.includes('deployed'))"
    )
    drawn = await fonts_of(page, f'.nf-output-body > :nth-child({index + 1}) .nf-ol-x')
    assert set(drawn) == {'JetBrains Mono', 'Noto Emoji'}, drawn  # no system fallback, no empty boxes
    assert all(font['isCustomFont'] for font in drawn.values()), drawn
    assert drawn['Noto Emoji']['glyphCount'] == 2
    assert tab.errors == []


async def test_an_agent_colour_too_dark_to_read_is_lightened(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    agent = await agents('dark-01', theme_color='#1b1f3a')  # about the table's own background
    await agent.heartbeat()
    tab = await dashboard_tab(dashboard_process, browser, ['dark-01'])
    name = tab.page.locator(f'{row("dark-01")} .nf-hostname')
    colour = await name.evaluate(f'e => ({RGB_OF})(getComputedStyle(e).color)')
    card = luminance('rgb(31, 35, 53)')  # --nf-bg-float, the table's card
    text = luminance(colour)
    assert (max(text, card) + 0.05) / (min(text, card) + 0.05) >= 4.5, colour
    assert tab.errors == []
