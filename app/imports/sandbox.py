"""Reading an uploaded file in a child process that has a time and a memory limit.

A file's reader runs library code (csv, openpyxl, icalendar, recurring_ical_events, lxml) on input
that anyone with a key can shape: a recurrence rule repeating every second since 1990, a sheet
declaring 16,384 columns, a line of a million separators.  Each reader caps what it keeps, but
only a separate process bounds what it spends: the child is forked from a server process that
has the readers loaded (multiprocessing's forkserver, so it starts in milliseconds and shares
nothing with the service's threads and connections), its address space is capped, and it is
killed when its time is up.  The service's own process spends nothing on the parse but
waiting, so requests it serves meanwhile are not slowed, and no database lock is held while
a file is read (the import routes read before they open their transaction).
"""

import contextlib
import multiprocessing
import os
import resource
import time
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from typing import Any, TypedDict, Unpack

import anyio
import anyio.to_thread

from app.config import Settings
from app.errors import AppError, FieldError, PayloadTooLarge, Unavailable, ValidationFailed
from app.imports import readers
from app.imports.readers import Table

_CONTEXT = multiprocessing.get_context("forkserver")
# The child starts from these modules already imported: a fork costs milliseconds, a fresh
# interpreter importing openpyxl and icalendar half a second.
_CONTEXT.set_forkserver_preload(
    ["app.imports.readers", "app.imports.ics", "app.imports.iati", "openpyxl"]
)


class Options(TypedDict, total=False):
    """What readers.read takes besides the file: the sheet, the recurrences' window."""

    sheet: str | None
    first: date | None
    last: date | None


@dataclass(frozen=True)
class Request:
    filename: str
    sheet: str | None = None
    first: date | None = None
    last: date | None = None


class Reader:
    """Reads files in child processes, each for at most `seconds` and `memory_mb` megabytes
    more than a fresh child takes; through `read_in_turn`, at most `at_once` at a time."""

    def __init__(self, *, seconds: float, memory_mb: int, at_once: int, wait: float) -> None:
        self.seconds = seconds
        self.memory_mb = memory_mb
        self.wait = wait
        # Turns are waited for in the event loop, never in a worker thread: threads are few
        # and every sync route needs one.
        self._turns = anyio.Semaphore(at_once)

    def read(self, filename: str, data: bytes, **options: Unpack[Options]) -> Table:
        """The file as a table (see readers.read), or the reader's own error; a reader that
        runs out of time or memory is a 413 naming the limit.  Blocks, and takes no turn:
        for the command line."""
        return self._read(Request(filename, **options), data)

    async def read_in_turn(self, filename: str, data: bytes, **options: Unpack[Options]) -> Table:
        """`read`, once one of the `at_once` turns is free (503 when none is within `wait`
        seconds), in a worker thread that only waits for the child."""
        try:
            with anyio.fail_after(self.wait):
                await self._turns.acquire()
        except TimeoutError:
            raise Unavailable(
                "other files are being read; try again in a minute", retry_after=60
            ) from None
        try:
            # Not cancellable: a cancelled request's child is still waited for (its time
            # is bounded), so no more than `at_once` children ever run.
            return await anyio.to_thread.run_sync(self._read, Request(filename, **options), data)
        finally:
            self._turns.release()

    def _read(self, request: Request, data: bytes) -> Table:
        ours, theirs = _CONTEXT.Pipe()
        child = _CONTEXT.Process(
            target=_child,
            args=(theirs, request, self.memory_mb * 2**20, self.seconds),
            name="assistcal-file-reader",
            daemon=True,
        )
        child.start()
        theirs.close()
        ends = time.monotonic() + self.seconds
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                ours.send_bytes(data)  # a child that stops reading has sent why, or died
            if not ours.poll(max(0.0, ends - time.monotonic())):
                raise self._over_time()
            answer = ours.recv()
        except (EOFError, ConnectionResetError):
            child.join(5)
            raise self._died(child.exitcode) from None
        finally:
            if child.is_alive():
                child.kill()
            child.join(5)
            ours.close()
        return _unpacked(answer, memory_mb=self.memory_mb)

    def _over_time(self) -> PayloadTooLarge:
        return too_much(
            f"reading the file took longer than {self.seconds:g} s, the limit "
            "(ASSISTCAL_IMPORT_READ_SECONDS): split it, or remove what repeats without end"
        )

    def _died(self, exitcode: int | None) -> AppError:
        if exitcode is not None and exitcode < 0:
            return too_much(
                f"reading the file needed more than the reader's limits ({self.memory_mb} MB, "
                f"{self.seconds:g} s) and was stopped"
            )
        return ValidationFailed.on("file", "the file could not be read")


def too_much(message: str) -> PayloadTooLarge:
    return PayloadTooLarge.on("file", message)


def _child(conn: Connection, request: Request, memory_bytes: int, seconds: float) -> None:
    """In the child: cap memory and CPU time, read the file, send back the table or the
    error as plain values."""
    _limit(memory_bytes, seconds)
    try:
        data = conn.recv_bytes()
        table = readers.read(
            request.filename, data, sheet=request.sheet, first=request.first, last=request.last
        )
        del data
        conn.send(("table", table))
    except MemoryError:
        conn.send(("memory",))
    except AppError as exc:
        details = [(detail.field, detail.message) for detail in exc.details]
        conn.send(("error", exc.status_code, exc.message, details))
    except Exception as exc:  # a library's own error on input it did not expect
        message = f"the file could not be read ({type(exc).__name__})"
        conn.send(("error", ValidationFailed.status_code, f"file: {message}", [("file", message)]))
    finally:
        conn.close()


def _limit(memory_bytes: int, seconds: float) -> None:
    """Address space: what the child has now plus `memory_bytes`; CPU time: `seconds` and a
    little more, so that a child whose parent is gone does not run on (SIGXCPU ends it)."""
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * page
    resource.setrlimit(resource.RLIMIT_AS, (size + memory_bytes, size + memory_bytes))
    cpu = int(seconds) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _unpacked(answer: tuple[Any, ...], *, memory_mb: int) -> Table:
    kind = answer[0]
    if kind == "table":
        table: Table = answer[1]
        return table
    if kind == "memory":
        raise too_much(
            f"reading the file needs more than {memory_mb} MB, the limit "
            "(ASSISTCAL_IMPORT_READ_MB): split it"
        )
    _, status, message, details = answer
    problems = [FieldError(field, text) for field, text in details]
    error_type = PayloadTooLarge if status == PayloadTooLarge.status_code else ValidationFailed
    raise error_type(message, details=problems)


def reader_for(settings: Settings) -> Reader:
    return Reader(
        seconds=settings.import_read_seconds,
        memory_mb=settings.import_read_mb,
        at_once=settings.import_readers,
        wait=settings.queue_timeout_seconds,
    )
