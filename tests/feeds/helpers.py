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


# Each timed event's start and end as UTC seconds, by UID, as four independent parsers read
# them (None for an all-day date).  icalendar and ical (allenporter/ical, strict, pydantic)
# read an IANA TZID with zoneinfo; ical.js (Thunderbird) and libical (Evolution, GNOME) read
# the feed's own VTIMEZONEs.
Instants = dict[str, tuple[int | None, int | None]]


def _seconds(value: object) -> int | None:
    from datetime import datetime

    if not isinstance(value, datetime):
        return None
    assert value.tzinfo is not None, f"a floating time: {value}"
    return int(value.timestamp())


def instants_by_icalendar(text: bytes) -> Instants:
    import icalendar

    calendar = icalendar.Calendar.from_ical(text)
    return {
        str(e["uid"]): (_seconds(e.decoded("dtstart")), _seconds(e.decoded("dtend")))
        for e in calendar.walk("VEVENT")
    }


def instants_by_ical(text: bytes) -> Instants:
    from ical.calendar_stream import IcsCalendarStream

    calendar = IcsCalendarStream.calendar_from_ics(text.decode())
    return {
        str(e.uid): (_seconds(e.dtstart), _seconds(e.dtend))
        for e in calendar.events  # strict: a malformed component raises
    }


ICALJS_INSTANTS = """
const loaded = require(process.argv[1]);
const ICAL = loaded.default || loaded;
let text = '';
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const seconds = (t) => (t.isDate ? null : t.toUnixTime());
  const found = {};
  for (const c of calendar.getAllSubcomponents('vevent')) {
    const event = new ICAL.Event(c);
    if (!event.startDate.isDate && event.startDate.zone.tzid !== 'UTC'
        && !event.startDate.zone.component) {
      throw new Error(event.uid + ': its TZID was not read from a VTIMEZONE');
    }
    found[event.uid] = [seconds(event.startDate), seconds(event.endDate)];
  }
  process.stdout.write(JSON.stringify(found));
});
"""


def instants_by_icaljs(text: bytes) -> Instants:
    module = icaljs_module()
    if shutil.which("node") is None or module is None:
        reason = "needs node and ical.js (.ci/run installs them: npm install ical.js)"
        if os.environ.get("ASSISTCAL_REQUIRE_ICALJS"):
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        ["node", "-e", ICALJS_INSTANTS, module],
        input=text,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return {uid: (start, end) for uid, (start, end) in json.loads(done.stdout).items()}


# Run by the system Python, whose GObject bindings (python3-gi) reach libical
# (gir1.2-ical-3.0); the project's virtualenv cannot import them.
LIBICAL_INSTANTS = """
import json, sys
import gi
gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib

calendar = ICalGLib.Component.new_from_string(sys.stdin.read())
kind = ICalGLib.ComponentKind.VEVENT_COMPONENT
found = {}
event = calendar.get_first_component(kind)
while event is not None:
    values = []
    for moment in (event.get_dtstart(), event.get_dtend()):
        zone = moment.get_timezone()
        if moment.is_date():
            values.append(None)
        elif zone is None:
            raise SystemExit(event.get_uid() + ": a floating time")
        else:
            values.append(moment.as_timet_with_zone(zone))
    found[event.get_uid()] = values
    event = calendar.get_next_component(kind)
print(json.dumps(found))
"""


def libical_python() -> str | None:
    """A Python that reaches libical through GObject: ASSISTCAL_LIBICAL_PYTHON, else the
    system's /usr/bin/python3 (Debian: python3-gi, gir1.2-ical-3.0)."""
    candidate = os.environ.get("ASSISTCAL_LIBICAL_PYTHON", "/usr/bin/python3")
    if not Path(candidate).exists():
        return None
    check = "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib"
    done = subprocess.run([candidate, "-c", check], capture_output=True, check=False, timeout=60)
    return candidate if done.returncode == 0 else None


def instants_by_libical(text: bytes) -> Instants:
    python = libical_python()
    if python is None:
        reason = (
            "needs libical's GObject bindings for the system Python "
            "(.ci/run installs them: apt-get install gir1.2-ical-3.0 python3-gi)"
        )
        if os.environ.get("ASSISTCAL_REQUIRE_LIBICAL"):
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        [python, "-c", LIBICAL_INSTANTS],
        input=text,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return {uid: (start, end) for uid, (start, end) in json.loads(done.stdout).items()}


PARSERS = {
    "icalendar": instants_by_icalendar,
    "ical": instants_by_ical,
    "ical.js": instants_by_icaljs,
    "libical": instants_by_libical,
}
