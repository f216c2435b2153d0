"""redis-warden triggers (Azure Functions Python v2 model). Each trigger only adapts and hands over.

All behaviour lives in `remediators.entry.triggers`; keeping this file to bindings and argument plumbing means
the dev host and Azure run identical code and the facade is testable without a Functions runtime.
Queue bodies arrive already decoded per host.json `extensions.queues.messageEncoding` (base64, as Event
Grid writes). Deferral is the facade re-enqueueing a WorkItem with a visibility delay on `warden-work`;
nothing here sleeps. No `from __future__ import annotations`: the worker picks each argument's type from
its annotation, so the annotations stay real objects rather than strings.
"""

import json

import azure.functions as func

from remediators.entry import triggers

STORAGE = "AzureWebJobsStorage"
EVENTS_QUEUE = "warden-events"
WORK_QUEUE = "warden-work"
EVENTS_POISON_QUEUE = f"{EVENTS_QUEUE}-poison"
WORK_POISON_QUEUE = f"{WORK_QUEUE}-poison"
# NCRONTAB with seconds; Linux plans (Flex Consumption) evaluate it in UTC.
NIGHTLY_SCHEDULE = "0 0 2 * * *"
HOURLY_SCHEDULE = "0 5 * * * *"
# 01:30 UTC on the 1st: after the London month has ended (00:00 UTC in GMT, 23:00 UTC the day before in BST)
# and the 01:05 checkpoint, before the 02:00 scan.
MONTHLY_PACK_SCHEDULE = "0 30 1 1 * *"

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def _delivery(msg: func.QueueMessage) -> tuple[str, int]:
    """Message id and dequeue count; the host always sends both, so their absence is a failure, not 0."""
    if msg.id is None or msg.dequeue_count is None:
        raise ValueError("queue message metadata (id, dequeue count) is missing")
    return msg.id, msg.dequeue_count


def _json(status: int, body: dict[str, object]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def _caller(req: func.HttpRequest) -> str | None:
    """Object id from App Service Authentication. Only that platform layer strips a client-sent copy of
    this header, so without it enabled the value is the caller's unverified claim."""
    return req.headers.get("x-ms-client-principal-id") or None


@app.function_name("on_resource_event")
@app.queue_trigger(arg_name="msg", queue_name=EVENTS_QUEUE, connection=STORAGE)
def on_resource_event(msg: func.QueueMessage) -> None:
    message_id, dequeue_count = _delivery(msg)
    # Strict UTF-8: a body that is not text fails, is retried, then lands in -poison and raises an alert.
    triggers.on_resource_event(msg.get_body().decode("utf-8"), message_id=message_id, dequeue_count=dequeue_count)


@app.function_name("on_work_item")
@app.queue_trigger(arg_name="msg", queue_name=WORK_QUEUE, connection=STORAGE)
def on_work_item(msg: func.QueueMessage) -> None:
    message_id, dequeue_count = _delivery(msg)
    triggers.on_work_item(msg.get_body().decode("utf-8"), message_id=message_id, dequeue_count=dequeue_count)


def _on_poison(queue_name: str, msg: func.QueueMessage) -> None:
    message_id, dequeue_count = _delivery(msg)
    # Lenient decoding: the alert must be written even for a body that broke the first trigger.
    body = msg.get_body().decode("utf-8", errors="replace")
    triggers.on_poison(queue_name, body, message_id=message_id, dequeue_count=dequeue_count)


@app.function_name("on_events_poison")
@app.queue_trigger(arg_name="msg", queue_name=EVENTS_POISON_QUEUE, connection=STORAGE)
def on_events_poison(msg: func.QueueMessage) -> None:
    _on_poison(EVENTS_POISON_QUEUE, msg)


@app.function_name("on_work_poison")
@app.queue_trigger(arg_name="msg", queue_name=WORK_POISON_QUEUE, connection=STORAGE)
def on_work_poison(msg: func.QueueMessage) -> None:
    _on_poison(WORK_POISON_QUEUE, msg)


@app.function_name("post_scan")
@app.route(route="scans", methods=[func.HttpMethod.POST])
def post_scan(req: func.HttpRequest) -> func.HttpResponse:
    status, body = triggers.post_scan(req.get_body(), caller=_caller(req))
    return _json(status, body)


@app.function_name("get_scan")
@app.route(route="scans/{id}", methods=[func.HttpMethod.GET])
def get_scan(req: func.HttpRequest) -> func.HttpResponse:
    status, body = triggers.get_scan(req.route_params["id"])
    return _json(status, body)


@app.function_name("hourly_checkpoint")
@app.timer_trigger(schedule=HOURLY_SCHEDULE, arg_name="timer", run_on_startup=False)
def hourly_checkpoint(timer: func.TimerRequest) -> None:
    triggers.on_checkpoint_timer()


@app.function_name("nightly_scan")
@app.timer_trigger(schedule=NIGHTLY_SCHEDULE, arg_name="timer", run_on_startup=False)
def nightly_scan(timer: func.TimerRequest) -> None:
    triggers.on_timer(past_due=timer.past_due)


@app.function_name("monthly_assessment_pack")
# Timer triggers are retried only by a retry policy; a failed publish is audited first (triggers.on_pack_timer).
@app.retry(strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:01:00",
           maximum_interval="00:15:00")
@app.timer_trigger(schedule=MONTHLY_PACK_SCHEDULE, arg_name="timer", run_on_startup=False)
def monthly_assessment_pack(timer: func.TimerRequest) -> None:
    triggers.on_pack_timer()
