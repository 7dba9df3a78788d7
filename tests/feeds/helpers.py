"""Parsing feeds as clients do: icalendar here, Mozilla's ical.js (Thunderbird) through node."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ICALJS_SCRIPT = """
const loaded = require(process.argv[1]);
const ICAL = loaded.default || loaded;
let text = '';
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const events = calendar.getAllSubcomponents('vevent').map((c) => {
    const event = new ICAL.Event(c);
    return {
      uid: event.uid,
      summary: event.summary,
      description: event.description,
      start: event.startDate.toString(),
      end: event.endDate.toString(),
      startUtc: event.startDate.toUnixTime(),
      zone: event.startDate.zone ? event.startDate.zone.tzid : null,
      allDay: event.startDate.isDate,
      sequence: event.sequence,
      status: c.getFirstPropertyValue('status'),
    };
  });
  for (const tz of calendar.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(tz);
  }
  const zoned = calendar.getAllSubcomponents('vevent').map((c) => {
    const start = new ICAL.Event(c).startDate;
    return start.isDate ? null : start.toUnixTime();
  });
  process.stdout.write(JSON.stringify({
    name: calendar.getFirstPropertyValue('x-wr-calname'),
    events, zoned,
  }));
});
"""


def icaljs_module() -> str | None:
    """Where ical.js is: ASSISTCAL_ICALJS, or .ci/node (installed by .ci/run)."""
    candidates = [os.environ.get("ASSISTCAL_ICALJS"), ROOT / ".ci/node/node_modules/ical.js"]
    for candidate in candidates:
        if candidate and Path(candidate, "package.json").exists():
            return str(candidate)
    return None


def parse_with_icaljs(text: bytes) -> dict:  # type: ignore[type-arg]
    module = icaljs_module()
    if shutil.which("node") is None or module is None:
        reason = "needs node and ical.js (.ci/run installs them: npm install ical.js)"
        if os.environ.get("ASSISTCAL_REQUIRE_ICALJS"):
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        ["node", "-e", ICALJS_SCRIPT, module],
        input=text,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)  # type: ignore[no-any-return]
