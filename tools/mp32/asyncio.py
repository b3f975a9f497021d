"""A small asyncio for the WebAssembly test run. That port's own asyncio is driven by the
JavaScript event loop and has no run(); the firmware and its tests need run(), gather(),
create_task() and sleeps. Tasks take turns in the order they became ready; sleeps in real
time poll the tick counter. Test-only."""

from time import ticks_add, ticks_diff, ticks_ms


class CancelledError(BaseException):
    pass


class Task:
    def __init__(self, coro):
        self.coro = coro
        self.done = False
        self.result = None
        self.error = None
        self._cancel = False

    def cancel(self):
        self._cancel = True

    def step(self):
        try:
            if self._cancel:
                self._cancel = False
                self.coro.throw(CancelledError())
            else:
                self.coro.send(None)
        except StopIteration as stop:
            self.done, self.result = True, stop.value
        except BaseException as exc:  # noqa: B902 - the task's end, whatever it was
            self.done, self.error = True, exc

    def __iter__(self):  # awaiting a task waits for its end
        while not self.done:
            yield
        if self.error is not None:
            raise self.error
        return self.result

    __await__ = __iter__


_tasks: list = []


def create_task(coro):
    task = Task(coro)
    _tasks.append(task)
    return task


def _pass():  # a generator: awaiting it hands the turn back to run()
    yield


def sleep_ms(ms):
    deadline = ticks_add(ticks_ms(), int(ms))
    yield
    while ticks_diff(deadline, ticks_ms()) > 0:
        yield


def sleep(seconds):
    if seconds <= 0:
        return _pass()
    return sleep_ms(seconds * 1000)


async def gather(*coros):
    tasks = [create_task(c) for c in coros]
    out = []
    for task in tasks:
        out.append(await task)
    return out


def run(coro):
    # One queue in the order tasks became ready, as asyncio's: a task made while another runs
    # gets its turn before that one's next step.
    main = create_task(coro)
    while not main.done:
        task = _tasks.pop(0)
        task.step()
        if not task.done:
            _tasks.append(task)
    _tasks.clear()
    if main.error is not None:
        raise main.error
    return main.result
