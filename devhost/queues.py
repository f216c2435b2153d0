"""Queue-trigger listener with the Storage Queues extension's (5.x) delivery semantics, against Azurite.

What the real host does, and so what this does:
- receive up to `batchSize` messages with a long visibility lease (10 minutes) and run them in parallel;
- poll again at once while messages arrive, back off exponentially up to `maxPollingInterval` when empty;
- decode per `messageEncoding`; a message that cannot be decoded goes straight to `<queue>-poison`
  (the extension's MessageDecodingFailed handler), without running the function;
- on success delete; on failure release with `visibilityTimeout`, or, once `dequeueCount >=
  maxDequeueCount`, copy the message text unchanged to `<queue>-poison` and delete the original;
  a message already dequeued more than `maxDequeueCount` times is moved before running;
- a queue that is itself `*-poison` has no poison queue: a failed message is not released and comes back
  when its lease ends (extension 5.3.8 no longer applies maxDequeueCount there).
Messages sent with a visibility delay are simply not returned by Azurite until they are due.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from devhost.bindings import QueueTriggerSpec
from devhost.encoding import UndecodableMessage, decode
from devhost.host_config import QueueOptions
from devhost.invoke import Delivery, call, queue_argument

log = logging.getLogger("devhost.queues")

POISON_SUFFIX = "-poison"
MIN_POLL = timedelta(milliseconds=100)  # QueuePollingIntervals.Minimum in the extension
MESSAGE_LEASE = timedelta(minutes=10)  # the listener's receive visibility timeout in the extension


def poison_queue_name(queue_name: str) -> str | None:
    """`<queue>-poison`, or None for a queue that is already a poison queue or whose name would be too long."""
    if queue_name.endswith(POISON_SUFFIX) or len(queue_name) + len(POISON_SUFFIX) > 63:
        return None
    return queue_name + POISON_SUFFIX


class Activity:
    """Counts in-flight invocations across listeners so `run_until_idle` can tell settled from busy."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._generation = 0

    def begin(self) -> None:
        with self._cond:
            self._in_flight += 1
            self._generation += 1

    def end(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._generation += 1
            self._cond.notify_all()

    def snapshot(self) -> tuple[int, int]:
        with self._cond:
            return self._in_flight, self._generation

    def wait(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait(seconds)


class QueueListener:
    def __init__(
        self,
        spec: QueueTriggerSpec,
        service: QueueServiceClient,
        options: QueueOptions,
        activity: Activity,
        on_poisoned: Callable[[str], None],
        lease: timedelta = MESSAGE_LEASE,
    ) -> None:
        self.spec = spec
        self._options = options
        self._activity = activity
        self._on_poisoned = on_poisoned
        self._lease = max(1, int(lease.total_seconds()))
        self._queue: QueueClient = service.get_queue_client(spec.queue_name)
        poison = poison_queue_name(spec.queue_name)
        self._poison: QueueClient | None = service.get_queue_client(poison) if poison else None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._slots = threading.Semaphore(options.batch_size)
        self._pool = ThreadPoolExecutor(max_workers=options.batch_size, thread_name_prefix=f"fn-{spec.name}")
        self._thread = threading.Thread(target=self._poll_loop, name=f"poll-{spec.name}", daemon=True)

    @property
    def queue_name(self) -> str:
        return self.spec.queue_name

    def ensure_queue(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._queue.create_queue()

    def pending(self) -> int:
        """Messages in the queue, visible or not (Storage's approximate count includes invisible ones)."""
        return self._queue.get_queue_properties().approximate_message_count or 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _poll_loop(self) -> None:
        delay = MIN_POLL.total_seconds()
        ceiling = self._options.max_polling_interval.total_seconds()
        while not self._stop.is_set():
            free = self._acquire_slots()
            if not free:
                continue
            try:
                messages = list(
                    self._queue.receive_messages(
                        messages_per_page=free, max_messages=free, visibility_timeout=self._lease
                    )
                )
            except AzureError as exc:  # Azurite restarting or unreachable: back off and poll again
                log.warning("%s: receiving from %s failed: %s", self.spec.name, self.queue_name, exc)
                messages = []
            for _ in range(free - len(messages)):
                self._slots.release()
            for message in messages:
                self._activity.begin()
                self._pool.submit(self._process_guarded, message).add_done_callback(self._report_bug)
            if messages:
                delay = MIN_POLL.total_seconds()
                continue
            # Randomised exponential back-off, as the extension's polling strategy does.
            self._wake.wait(delay * random.uniform(0.8, 1.0))
            self._wake.clear()
            delay = min(delay * 2, ceiling)

    def _acquire_slots(self) -> int:
        if not self._slots.acquire(timeout=0.2):
            return 0
        free = 1
        while free < min(self._options.batch_size, 32) and self._slots.acquire(blocking=False):
            free += 1
        return free

    def _process_guarded(self, message: QueueMessage) -> None:
        try:
            self._process(message)
        except AzureError:
            # Storage refused a delete/update/move: the message stays and comes back after its lease.
            log.exception("%s: storage error while completing message %s", self.spec.name, message.id)
        finally:
            self._slots.release()
            self._activity.end()

    def _report_bug(self, future: Future[None]) -> None:
        """A pool swallows exceptions into futures nobody reads; a dev-host bug must still be seen."""
        exc = future.exception()
        if exc is not None:
            log.error("%s: dev host failure while processing a message", self.spec.name, exc_info=exc)

    def _process(self, message: QueueMessage) -> None:
        count = message.dequeue_count or 1
        if self._poison is not None and count > self._options.max_dequeue_count:
            self._move_to_poison(message, "dequeue count already above maxDequeueCount")
            return
        try:
            payload = decode(message.content or "", self._options.message_encoding)
        except UndecodableMessage as exc:
            if self._poison is not None:
                self._move_to_poison(message, f"cannot decode as {self._options.message_encoding}: {exc}")
            else:
                log.warning("%s: message %s cannot be decoded and stays in %s: %s",
                            self.spec.name, message.id, self.queue_name, exc)
            return
        if self._invoke(message, payload, count):
            self._delete(message)
        elif self._poison is not None and count >= self._options.max_dequeue_count:
            self._move_to_poison(message, f"reached maxDequeueCount of {self._options.max_dequeue_count}")
        elif self._poison is not None:
            self._release(message)
        # else: a poison queue's failed message stays invisible until its lease ends, as in the extension.

    def _invoke(self, message: QueueMessage, payload: bytes, count: int) -> bool:
        invocation = uuid.uuid4()
        delivery = Delivery(
            message_id=message.id,
            payload=payload,
            dequeue_count=count,
            inserted_on=message.inserted_on,
            expires_on=message.expires_on,
            next_visible_on=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        log.info("Executing 'Functions.%s' (Reason='New queue message detected on '%s'.', Id=%s)",
                 self.spec.name, self.queue_name, invocation)
        try:
            argument = queue_argument(self.spec.user_function, self.spec.arg_name, delivery)
            call(self.spec.user_function, self.spec.arg_name, argument)
        except Exception:  # the host records any function failure and applies the retry policy
            log.exception("Executed 'Functions.%s' (Failed, Id=%s, message %s, dequeue count %d)",
                          self.spec.name, invocation, message.id, count)
            return False
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s)", self.spec.name, invocation)
        return True

    def _delete(self, message: QueueMessage) -> None:
        try:
            self._queue.delete_message(message.id, message.pop_receipt)
        except ResourceNotFoundError:
            log.debug("%s: message %s was already gone", self.spec.name, message.id)
        except HttpResponseError as exc:
            if exc.error_code != "PopReceiptMismatch":
                raise
            log.debug("%s: message %s was taken over by another receiver", self.spec.name, message.id)

    def _release(self, message: QueueMessage) -> None:
        seconds = int(self._options.visibility_timeout.total_seconds())
        try:
            self._queue.update_message(message.id, message.pop_receipt, visibility_timeout=seconds)
        except ResourceNotFoundError:
            log.debug("%s: message %s was already gone", self.spec.name, message.id)
        except HttpResponseError as exc:
            if exc.error_code != "PopReceiptMismatch":
                raise

    def _move_to_poison(self, message: QueueMessage, why: str) -> None:
        assert self._poison is not None  # callers check; a poison queue has no poison queue of its own
        log.warning("%s: moving message %s to queue '%s': %s",
                    self.spec.name, message.id, self._poison.queue_name, why)
        text = message.content or ""
        try:
            self._poison.send_message(text)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                self._poison.create_queue()
            self._poison.send_message(text)
        self._delete(message)
        self._on_poisoned(self._poison.queue_name)
