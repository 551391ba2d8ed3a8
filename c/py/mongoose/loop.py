# asyncio on Mongoose's loop: MicroPython's own asyncio (extmod/asyncio,
# frozen), whose waits for I/O and timers are polls of the network
# (_mongoose.wait), and Pending, the awaitable that a C callback resolves.
import asyncio
from asyncio import core as _core

import _mongoose

from .core import BudgetExceeded, _log_exception, _Task

# Tasks the app may have running at once (besides one per request being
# answered, which the connection limit bounds).
MAX_TASKS = 1000
_running = [0]


class _Link:
    """asyncio's I/O queue, on the network: the loop waits in Mongoose's poll,
    where requests, timers and outbound connections resolve what tasks await.
    There are no streams to register (the guest has no sockets)."""

    map = True  # there is always something to wait for: keep the loop running

    def wait_io_event(self, dt):
        # Callbacks in the poll run outside any task: they may cancel one. A
        # coroutine awaited there (driven by something other than the loop)
        # would queue the current task: that is _OUTSIDE, which says so.
        _core.cur_task = _OUTSIDE
        _mongoose.wait(dt)
        # dt -1 (nothing queued): the loop pops a task next, so one must be
        # queued first (the poll's callbacks queue them to run at once).
        while dt < 0 and not _core._task_queue.peek():
            _mongoose.wait(dt)

    def queue_read(self, s):
        raise OSError("asyncio streams are not available in the guest")

    queue_write = queue_read

    def remove(self, task):
        pass


class _Outside:
    """The coroutine of _OUTSIDE: the loop runs it when an await outside any
    task queued it, and it fails with the reason."""

    def send(self, value):
        raise RuntimeError("an await ran outside any asyncio task (a coroutine driven by a sync callback?)")

    def throw(self, exc):
        self.send(None)


class _Guarded:
    """The coroutine of an app's task, stepped by the loop: counted until it
    ends (even cancelled before its first step, when a coroutine's own
    `finally` would not run); a step over the CPU budget cancels the task,
    not the loop."""

    def __init__(self, coro):
        self.coro = coro
        self.ended = False

    def send(self, value):
        return self._step(self.coro.send, value)

    def throw(self, exc):
        return self._step(self.coro.throw, exc)

    def _step(self, fn, arg):
        if self.ended:  # the loop throws a detached task's exception in again, to report it
            return fn(arg)
        try:
            return fn(arg)
        except BudgetExceeded as e:
            self._end()
            _log_exception("Traceback in asyncio task (cancelled: over its CPU budget):", e)
            raise _core.CancelledError
        except BaseException:  # StopIteration (it returned) included
            self._end()
            raise

    def _end(self):
        self.ended = True
        _running[0] -= 1


_create_task = _core.create_task


def create_task(coro):
    """asyncio.create_task(), bounded (MAX_TASKS) and under the CPU budget."""
    if not hasattr(coro, "send"):
        raise TypeError("coroutine expected")
    if _running[0] >= MAX_TASKS:
        raise RuntimeError("too many asyncio tasks: %d are running" % MAX_TASKS)
    _running[0] += 1
    return _create_task(_Guarded(coro))


def _task_failed(loop, context):
    _log_exception("Traceback in asyncio task:", context["exception"])


def run(coro):
    """asyncio.run(): as MicroPython's, and a step that ran over the CPU
    budget in the loop's own code (past the task's end) does not end the
    loop. When it returns, the next run calibrates the GC rule afresh."""
    main = create_task(coro)
    try:
        while True:
            try:
                return _core.run_until_complete(main)
            except BudgetExceeded as e:
                _log_exception("Traceback in the asyncio loop (a step ran over its CPU budget):", e)
    finally:
        _mongoose.loop_ended()


_core.IOQueue = _Link  # asyncio.new_event_loop() makes one too
_core._io_queue = _Link()
_core.create_task = asyncio.create_task = create_task
_core.run = asyncio.run = run
_core.Loop.set_exception_handler(_task_failed)
_OUTSIDE = _Task(_Outside())


def start(coro):
    """Run a coroutine at once up to its first real wait (in the callback
    that made it: an async handler that awaits nothing costs no trip through
    the loop), then on as a task, which this returns; None if it finished."""
    task = _Task(coro)
    return task if _first_step(coro, task) is coro else None


def run_now(coro, why):
    """The result of a coroutine that must finish in the callback that made
    it (a WebSocket handshake's hook): RuntimeError(why) if it waits."""
    task = _Task(coro)
    value = _first_step(coro, task)
    if value is coro:
        task.cancel()
        raise RuntimeError(why)
    return value


def _first_step(coro, task):
    # Its return value, or coro itself if it waits (then as task: what it
    # awaits wakes that task).
    outer = _core.cur_task
    _core.cur_task = task
    try:
        return _mongoose.resume(coro)
    finally:
        _core.cur_task = outer


def follow(ret, heading, on_fail=None):
    """What a callback of the app's returned: if a coroutine (an async
    handler's), it runs as a task; an exception in it is logged under heading,
    then on_fail() runs."""
    if is_coroutine(ret):
        create_task(_logged(ret, heading, on_fail))


async def _logged(coro, heading, on_fail):
    try:
        await coro
    except (Exception, BudgetExceeded) as e:
        _log_exception(heading, e)
        if on_fail is not None:
            on_fail()


def is_coroutine(obj):
    # MicroPython's coroutines are generators: an async handler's result is one.
    return type(obj) is _GENERATOR


def _gen():
    yield


_GENERATOR = type(_gen())
_GENERATOR_FUNCTION = type(_gen)


def is_async(fn):
    """Whether fn is an `async def` function. MicroPython cannot tell one from
    a generator function: a handler that yields is taken as async too."""
    return type(fn) is _GENERATOR_FUNCTION


class Pending:
    """An awaitable that a callback resolves, once: await it from a task.
    Cancelling the task that awaits it calls on_cancel (to abort its
    connection, say)."""

    def __init__(self, on_cancel=None):
        self.done = False
        self._value = self._error = self._task = None
        self._on_cancel = on_cancel

    def resolve(self, value=None, error=None):
        if self.done:
            return
        self.done = True
        self._value = value
        self._error = error
        if self._task is not None:
            _core._task_queue.push(self._task)
            self._task = None

    def remove(self, task):
        # Task.cancel() of the task awaiting this.
        self._task = None
        if not self.done and self._on_cancel is not None:
            self._on_cancel()

    def wait(self):
        if not self.done:
            task = _core.cur_task
            if task is None:
                raise RuntimeError("await this in an asyncio task (under app.run() or asyncio.run())")
            if self._task is not None:
                raise RuntimeError("already awaited by another task")
            self._task = task
            task.data = self
            yield
        if self._error is not None:
            raise self._error
        return self._value

    __iter__ = wait
