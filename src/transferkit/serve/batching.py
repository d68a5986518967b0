"""Dynamic batching: concurrent requests gathered into one model call, behind a bounded queue.

Requests already waiting are taken at once; when the previous batch held more than one request
(requests are arriving together), the batch also waits up to `max_wait_s` after its first
request for more, or until `max_batch` inputs are gathered (a request is never split, so one
batch may hold up to max_batch + max_inputs - 1). It then runs in one call on a single worker
thread (one model, one call at a time: the model's own threads use the cores). A lone client
is therefore never held back, and under load the model runs full batches. When `max_queue`
requests are already waiting, `submit` raises `Overloaded` at once (the server answers 503 with
Retry-After) instead of building an unbounded backlog.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence


class Overloaded(Exception):
    """The queue is full."""


class Batcher:
    def __init__(self, predict: Callable[[list], Sequence[Any]], *, max_batch: int = 32, max_wait_s: float = 0.002,
                 max_queue: int = 256):
        self.predict, self.max_batch, self.max_wait_s, self.max_queue = predict, max_batch, max_wait_s, max_queue
        self.batches = 0  # model calls made (for /metrics)
        self.inputs = 0
        self._queue: asyncio.Queue | None = None
        self._concurrent = False  # the last batch gathered more than one request
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="transferkit-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue(self.max_queue)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._queue is not None:
            await self._queue.join()
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=True)

    @property
    def waiting(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def submit(self, inputs: list) -> list:
        """The model's outputs for `inputs`, computed in a batch with whatever else is waiting."""
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((inputs, future))
        except asyncio.QueueFull:
            raise Overloaded() from None
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            count, deadline = len(items[0][0]), loop.time() + self.max_wait_s
            while count < self.max_batch and not self._queue.empty():  # what already waits joins at once
                item = self._queue.get_nowait()
                items.append(item)
                count += len(item[0])
            # Wait for more only when requests have recently come together: a lone client is never
            # held back (at 1 client a 2 ms wait cost ~2.7 ms p50 for nothing; serve_load.py).
            while self._concurrent and count < self.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
                items.append(item)
                count += len(item[0])
            self._concurrent = len(items) > 1
            inputs = [x for request, _ in items for x in request]
            try:
                outputs = await loop.run_in_executor(self._executor, self.predict, inputs)
            except Exception as e:  # noqa: BLE001 - handed to every waiting request
                for _, future in items:
                    if not future.done():
                        future.set_exception(e)
            else:
                self.batches, self.inputs = self.batches + 1, self.inputs + len(inputs)
                start = 0
                for request, future in items:
                    if not future.done():
                        future.set_result(list(outputs[start:start + len(request)]))
                    start += len(request)
            finally:
                for _ in items:
                    self._queue.task_done()
