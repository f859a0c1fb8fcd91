"""A host's theme colour reaches CSS as one property, and only when it is `#rgb`/`#rrggbb` (issue 15 item 2).

NiceGUI joins an element's style properties into one `style` attribute, so `host_color_style` is the gate every view
(History host labels, output tabs, pipeline grid cells) puts a colour through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from nicegui.style import Style

from nixfleet.ui.theme import host_color_style

#: Colours that would add declarations, load a resource or run script if they reached a style attribute.
HOSTILE = [
    '#fff;position:fixed;inset:0;z-index:9999',
    'red}body{display:none',
    'url(https://x.example/a.png)',
    'expression(alert(1))',
    '#fff\n',
    '#fff ;background:red',
    '',
    None,
]


@dataclass
class Styled:
    """An element's style as NiceGUI keeps it (a dict of properties) and renders it (one attribute)."""

    style: dict[str, str] = field(default_factory=lambda: {'width': '10px'})

    def attribute(self) -> str:
        return ''.join(f'{name}:{value};' for name, value in self.style.items())  # as nicegui.js joins them


@pytest.mark.parametrize('color', HOSTILE)
@pytest.mark.parametrize('prop', ['color', '--hc'])
def test_a_colour_that_is_not_a_colour_sets_nothing_and_removes_the_previous_one(prop: str, color: object) -> None:
    element = Styled()
    host_color_style(element, prop, '#e0af68')
    host_color_style(element, prop, color)
    assert element.style == {'width': '10px'}
    assert Style.parse(element.attribute()) == {'width': '10px'}


@pytest.mark.parametrize('color', ['#e0af68', '#FFF'])
def test_a_colour_sets_exactly_one_property(color: str) -> None:
    element = Styled()
    host_color_style(element, '--hc', color)
    assert Style.parse(element.attribute()) == {'width': '10px', '--hc': color}
