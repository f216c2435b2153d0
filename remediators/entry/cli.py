"""`python -m remediators ...`: evaluate, replay, scan, audit, report (design section 5).

`evaluate` is pure (ARM bodies in, findings out) so a reviewer can check a cache from saved `az rest`
output with no storage or credentials. `replay` and `scan` use the same settings, leases, state table and
audit trail as the Function App, so running them beside the app is safe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..arm import bodies as arm_bodies
from ..baseline import BaselineError, load_baseline, settings_defaults
from ..engine.reconcile import Outcome, ReconcileResult
from ..events import parse_message
from ..resource_ids import (
    FleetScope,
    InvalidResourceId,
    Scope,
    parse_management_group,
    parse_scope,
    parse_subscription_id,
)
from ..settings import Settings, SettingsError

if TYPE_CHECKING:
    from ..state.storage import StorageClients

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DEFERRED, EXIT_PARTIAL = 0, 1, 2, 3, 4
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer cut off by `| head`


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit 2."""


def _load_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"{what}: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{what}: {path} is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    env = os.environ
    defaults = settings_defaults(
        env.get("WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID") or None,
        env.get("WARDEN_ACTION_GROUP_RESOURCE_ID") or None,
    )
    try:
        baseline = load_baseline(args.baseline or env.get("WARDEN_BASELINE") or None, defaults=defaults,
                                 refuse_expired_at=datetime.now(UTC))
    except BaselineError as exc:
        raise CliError(f"baseline: {exc}") from None
    try:
        snap = arm_bodies.snapshot(
            _load_json(args.resource, "--resource"),
            firewall=_load_json(args.firewall_rules, "--firewall-rules") if args.firewall_rules else None,
            diagnostics=(
                _load_json(args.diagnostic_settings, "--diagnostic-settings") if args.diagnostic_settings else None
            ),
            databases=[_load_json(p, "--database") for p in args.database] if args.database else None,
            nsg=_load_json(args.nsg, "--nsg") if args.nsg else None,
        )
    except (arm_bodies.InvalidBody, InvalidResourceId) as exc:
        raise CliError(str(exc)) from None
    findings = baseline.evaluate(snap, now=datetime.now(UTC))
    json.dump({"resource_id": snap.cache_id.arm_id, "findings": [f.as_dict() for f in findings]}, out, indent=2)
    out.write("\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- runtime commands


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def _storage_clients(settings: Settings, missing: str) -> StorageClients:
    """The app's storage account, with its managed identity when the connection is identity-based; the
    import is lazy so commands that never touch storage do not load the Azure Storage SDK."""
    from ..state.storage import StorageClients

    if settings.storage is None:
        raise CliError(missing)
    credential = None
    if settings.storage.identity_based:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)
    return StorageClients(settings.storage, credential)


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from .runtime import Runtime

    try:
        raw = Path(args.events).read_bytes()
    except OSError as exc:
        raise CliError(f"replay: cannot read {args.events}: {exc.strerror or exc}") from None
    rt = Runtime.build(_settings())
    counts: dict[str, int] = {}
    try:
        for parsed in parse_message(raw):
            outcome = rt.intake.handle_event(parsed, dry_run=args.dry_run, source="cli")
            counts[str(outcome)] = counts.get(str(outcome), 0) + 1
    finally:
        rt.audit.close()
    json.dump({"events": sum(counts.values()), "outcomes": counts}, out)
    out.write("\n")
    return EXIT_DEFERRED if counts.get(str(Outcome.DEFERRED)) else EXIT_OK


def _progress(stream: TextIO):
    def show(done: int, total: int, result: ReconcileResult) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{total} "
                     f"{result.cache.name}: {result.outcome}".ljust(100))
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def _scan_scope(args: argparse.Namespace) -> Scope | FleetScope:
    """One subscription (optionally one resource group of it): ARM lists. Several subscriptions or a
    management group: one Azure Resource Graph query."""
    if args.management_group is not None:
        if args.subscription or args.resource_group:
            raise CliError("scan: give --management-group or --subscription, not both")
        try:
            return FleetScope(management_group=parse_management_group(args.management_group))
        except InvalidResourceId as exc:
            raise CliError(f"scan: --management-group: {exc}") from None
    if not args.subscription:
        raise CliError("scan: give --subscription ID (repeatable) or --management-group NAME")
    subs: list[str] = []
    try:
        for given in args.subscription:
            for raw in given.split(","):
                sub = parse_subscription_id(raw)
                if sub not in subs:
                    subs.append(sub)
    except InvalidResourceId as exc:
        raise CliError(f"scan: --subscription: {exc}") from None
    if len(subs) > 1:
        if args.resource_group:
            raise CliError("scan: --resource-group goes with exactly one --subscription")
        return FleetScope(subscriptions=tuple(subs))
    raw_scope = f"/subscriptions/{subs[0]}"
    if args.resource_group:
        raw_scope += f"/resourceGroups/{args.resource_group}"
    try:
        return parse_scope(raw_scope)
    except InvalidResourceId as exc:
        raise CliError(f"scan: --resource-group: {exc}") from None


def cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    from .runtime import Runtime
    from .scan import ListingFailed, MemoryDeferrer, ScopeNotAllowed, run_scan

    scope = _scan_scope(args)
    deferrer = MemoryDeferrer()
    rt = Runtime.build(_settings(), deferrer=deferrer)
    try:
        report = run_scan(rt, deferrer, scope, dry_run=args.dry_run, retry_for_seconds=args.retry_for,
                          progress=_progress(sys.stderr))
    except ScopeNotAllowed as exc:
        raise CliError(str(exc)) from None
    except ListingFailed as exc:  # already audited, as the HTTP and timer scans' are
        raise CliError(str(exc)) from None
    finally:
        rt.audit.close()
    summary: dict[str, Any] = {"scanId": report.scan_id, "caches": len(report.results) + len(report.still_deferred),
                               "dryRun": bool(report.dry_run_sources), "dryRunSources": list(report.dry_run_sources)}
    outcomes: dict[str, int] = {}
    for r in report.results:
        outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
    summary["outcomes"] = outcomes
    summary["stillDeferred"] = [i.cache.arm_id for i in report.still_deferred]
    summary["listingFailed"] = dict(report.listing_failures)
    json.dump(summary, out, indent=2)
    out.write("\n")
    if report.listing_failures:
        return EXIT_PARTIAL  # some resource kinds could not be listed: the scan covered the others only
    return EXIT_DEFERRED if report.still_deferred else EXIT_OK


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m remediators", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="evaluate saved ARM bodies against the baseline (pure, no Azure)")
    ev.add_argument("--resource", required=True, help="cache GET body (JSON)")
    ev.add_argument("--firewall-rules", help="firewallRules list body (JSON)")
    ev.add_argument("--diagnostic-settings", help="diagnosticSettings list body (JSON); for Azure Managed Redis "
                    "those of its default database")
    ev.add_argument("--database", action="append", metavar="DB.json",
                    help="Azure Managed Redis: a database GET body or the databases list body (repeatable)")
    ev.add_argument("--nsg", metavar="NSG.json", help="the GET body of the NSG on a VNet-injected cache's subnet")
    ev.add_argument("--baseline", help="baseline document (path or inline JSON); default: shipped baseline")
    ev.set_defaults(func=cmd_evaluate)

    rp = sub.add_parser("replay", help="process an Event Grid delivery body synchronously, as the triggers would")
    rp.add_argument("events", help="JSON array of events (Event Grid or CloudEvents schema)")
    rp.add_argument("--dry-run", action="store_true", help="write nothing to Azure (can only make it drier)")
    rp.set_defaults(func=cmd_replay)

    sc = sub.add_parser("scan", help="reconcile every cache in one or more subscriptions, a resource group or a "
                        "management group, in-process")
    sc.add_argument("--subscription", action="append", metavar="ID",
                    help="subscription id, in WARDEN_SUBSCRIPTIONS (repeatable, or comma-separated; more than one "
                         "is listed with one Azure Resource Graph query)")
    sc.add_argument("--management-group", metavar="NAME",
                    help="management group name or id: its caches in WARDEN_SUBSCRIPTIONS, listed with Azure "
                         "Resource Graph (the tenant id names the root group)")
    sc.add_argument("--resource-group", help="only this resource group (with exactly one --subscription)")
    sc.add_argument("--dry-run", action="store_true", help="write nothing to Azure (can only make it drier)")
    sc.add_argument("--retry-for", type=float, default=120.0,
                    help="seconds to keep retrying each deferred cache, counted from its own first deferral, "
                         "before listing it (exit 3)")
    sc.set_defaults(func=cmd_scan)

    _add_audit_commands(sub)
    _add_breaker_commands(sub)
    _describe(p)
    return p


def _describe(parser: argparse.ArgumentParser) -> None:
    """`python -m remediators <command> --help` opens with the same sentence the command list shows."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if sub.description is None:
                    sub.description = helps.get(name)
                _describe(sub)


# ---------------------------------------------------------------------------------------------- breaker


def cmd_breaker(args: argparse.Namespace, out: TextIO) -> int:
    """`breaker status` reads the blast-radius breaker row; `breaker reset` closes it and audits who did it."""
    import getpass

    from ..audit import open_trail
    from ..state.breaker import SafetyLimits
    from ..state.limits import SafetyGuard, breaker_status, plain_counter
    from ..state.store import StateStore

    settings = _settings()
    storage = _storage_clients(settings, "AzureWebJobsStorage: required (the breaker lives in the state table)")
    state = StateStore(storage)
    state.ensure()
    limits = SafetyLimits.from_settings(settings)
    if args.breaker_command == "status":
        counter = breaker_status(state)
        json.dump({**plain_counter(counter), "max_writes": limits.breaker.max_count,
                   "window_seconds": limits.breaker.window_seconds}, out, indent=2)
        out.write("\n")
        return EXIT_DEFERRED if counter.tripped else EXIT_OK
    try:
        baseline = load_baseline(settings.baseline_source, defaults=settings_defaults(
            settings.log_analytics_workspace_id, settings.action_group_id))
    except BaselineError as exc:
        raise CliError(f"baseline: {exc}") from None
    trail = open_trail(audit_file=settings.audit_file,
                       blob_service=None if settings.audit_file else storage.blob_service,
                       container=settings.audit_container, checkpoint_container=settings.checkpoint_container,
                       signing_key=settings.signing_key, baseline_hash=baseline.version_hash, our_identity=None,
                       record_upn=settings.record_upn)
    try:
        before, after = SafetyGuard(state, trail, limits).breaker_reset(operator=getpass.getuser(),
                                                                        reason=args.reason)
    finally:
        trail.close()
    json.dump({"before": plain_counter(before), "after": plain_counter(after)}, out, indent=2)
    out.write("\n")
    return EXIT_OK


def _add_breaker_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    br = sub.add_parser("breaker", help="show or reset the blast-radius breaker (state table)")
    br_sub = br.add_subparsers(dest="breaker_command", required=True)
    br_sub.add_parser("status", help="print the breaker; exit 3 while it is tripped")
    reset = br_sub.add_parser("reset", help="close a tripped breaker so writes resume (audited)")
    reset.add_argument("--reason", required=True, help="why it is safe to resume writes (kept in the audit trail)")
    br.set_defaults(func=cmd_breaker)


def _trail_location(args: argparse.Namespace) -> dict[str, Any]:
    """Where the trail is read from: `--file`, else WARDEN_AUDIT_FILE, else the app's audit blobs."""
    file = args.file or os.environ.get("WARDEN_AUDIT_FILE") or None
    if file:
        return {"file": file}
    settings = _settings()
    storage = _storage_clients(settings, "AzureWebJobsStorage: required to read the audit blobs (or pass --file)")
    return {
        "blob_service": storage.blob_service,
        "container": settings.audit_container,
        "checkpoint_container": settings.checkpoint_container,
    }


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    from ..audit import commands

    where = _trail_location(args)
    if args.audit_command == "verify":
        return commands.audit_verify(key_fingerprint=args.key_fingerprint,
                                     max_checkpoint_age_hours=args.max_checkpoint_age, out=out, **where)
    filters = {"since": args.since, "until": args.until, "cache": args.cache, "rule": args.rule}
    if args.audit_command == "export":
        return commands.audit_export(format=args.format, out=out, **filters, **where)
    if args.audit_command == "ingest":
        return _audit_ingest(args, filters, where, out)
    return commands.audit_show(out=out, **filters, **where)


def _audit_ingest(args: argparse.Namespace, filters: dict[str, Any], where: dict[str, Any], out: TextIO) -> int:
    """`audit ingest`: re-send stored records to the Log Analytics table (fills a gap after an outage)."""
    from azure.identity import DefaultAzureCredential
    from azure.monitor.ingestion import LogsIngestionClient

    from ..audit import commands
    from ..audit.log_ingestion import Uploader

    settings = _settings()
    if settings.logs_ingestion is None:
        raise CliError("audit ingest: set WARDEN_LOGS_INGESTION_ENDPOINT and WARDEN_LOGS_DCR_IMMUTABLE_ID "
                       "(deployment outputs)")
    target = settings.logs_ingestion
    client = LogsIngestionClient(endpoint=target.endpoint, credential=DefaultAzureCredential(
        managed_identity_client_id=settings.azure_client_id))
    return commands.audit_ingest(upload=Uploader(client, target.rule_id, target.stream), out=out, **filters,
                                 **where)


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    if (args.format is None) == (args.out is None):
        raise CliError("report: give --format csv|json (current posture on stdout) or --out DIR (the monthly pack)")
    if args.format is not None:
        if args.month or args.as_at:
            raise CliError("report: --month and --as-at go with --out (the monthly pack)")
        from ..audit import commands

        return commands.posture_report(format=args.format, out=out, **_trail_location(args))
    from ..reporting.commands import monthly_pack

    return monthly_pack(out_dir=args.out, month=args.month, as_at=args.as_at, key_fingerprint=args.key_fingerprint,
                        out=out, **_trail_location(args))


FILE_HELP = "JSON-lines audit file (default: WARDEN_AUDIT_FILE, else the app's audit blobs)"


def _add_audit_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    au = sub.add_parser("audit", help="verify, export or show the audit trail")
    au_sub = au.add_subparsers(dest="audit_command", required=True)
    ver = au_sub.add_parser("verify", help="check chains and signed checkpoints; non-zero names the first break")
    ver.add_argument("--file", help=FILE_HELP)
    ver.add_argument("--key-fingerprint", help="pinned SHA-256 fingerprint(s) of the checkpoint key, comma-separated")
    ver.add_argument("--max-checkpoint-age", type=float, default=None, metavar="HOURS",
                     help="with a pinned key, fail when the newest checkpoint is older (default 2; 0 = any age, "
                          "for an archived copy)")
    for name, text in (("export", "records as csv or json, UK dates"), ("show", "records as a readable table"),
                       ("ingest", "re-send records to the Log Analytics table RedisWardenAudit_CL (fills a gap)")):
        cmd = au_sub.add_parser(name, help=text)
        cmd.add_argument("--file", help=FILE_HELP)
        if name == "export":
            cmd.add_argument("--format", choices=("csv", "json"), required=True, help="csv for a spreadsheet, json "
                             "for the stored records plus London times")
        cmd.add_argument("--since", help="DD/MM/YYYY (Europe/London)")
        cmd.add_argument("--until", help="DD/MM/YYYY (Europe/London), inclusive")
        cmd.add_argument("--cache", help="cache resource id or name")
        cmd.add_argument("--rule", help="rule id")
    au.set_defaults(func=cmd_audit)
    rep = sub.add_parser("report", help="current posture per cache (--format), or the monthly assessment pack "
                         "(--out): HTML with charts, CSV and OCSF")
    rep.add_argument("--format", choices=("csv", "json"),
                     help="current posture per cache on stdout: csv for a spreadsheet or json")
    rep.add_argument("--out", metavar="DIR", help="write the monthly pack into DIR (created if missing) and print "
                     "the paths, the HTML page first")
    rep.add_argument("--month", metavar="MM/YYYY", help="the month of the pack (default: the current London month)")
    rep.add_argument("--as-at", metavar="DD/MM/YYYY",
                     help="the pack as at the end of this London day of the month (default: the month's end, or now)")
    rep.add_argument("--key-fingerprint", help="pinned checkpoint key fingerprint(s) for the pack's verify section, "
                     "comma-separated")
    rep.add_argument("--file", help=FILE_HELP)
    rep.set_defaults(func=cmd_report)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args, out))
        out.flush()
        return code
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error of ours, and no traceback. Point stdout at
        # /dev/null so the interpreter's final flush cannot raise again, and exit as a shell's SIGPIPE does.
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
