"""axe-core (Deque's accessibility rules, the npm package) run inside Chromium, for the browser
tests that check pages with it (tests/e2e/test_accessibility.py, tests/e2e/test_languages.py).

axe-core comes from `npm install --prefix .ci/node axe-core` (.ci/run does it); without it
those tests are skipped with a reason, unless ASSISTCAL_REQUIRE_AXE=1."""

import os
from pathlib import Path
from typing import Any

import pytest

AXE = (
    Path(__file__).resolve().parents[2]
    / ".ci"
    / "node"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
if not AXE.exists() and os.environ.get("ASSISTCAL_REQUIRE_AXE") == "1":
    raise RuntimeError(f"no axe-core at {AXE} (npm install --prefix .ci/node axe-core)")
needs_axe = pytest.mark.skipif(
    not AXE.exists(), reason="needs axe-core (npm install --prefix .ci/node axe-core)"
)


def violations(page: Any, skipped: tuple[str, ...] = ()) -> list[str]:
    """What axe finds serious or critical on the page as it stands (`skipped`: rules not
    run). The page's context needs `bypass_csp=True`: the pages' Content-Security-Policy
    would refuse the injected script."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async skipped => (await axe.run(document, {
               resultTypes: ['violations'],
               rules: Object.fromEntries(skipped.map(id => [id, {enabled: false}])),
             })).violations
             .filter(v => ['serious', 'critical'].includes(v.impact))
             .map(v => `${v.id} (${v.impact}): ${v.help} — ` +
                  v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; '))""",
        list(skipped),
    )
    return list(found)
