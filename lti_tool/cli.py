"""`flask lti …` (keys, registrations), `flask roster …`, `flask embeds …` and `flask demo …` commands."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from lti_tool.extensions import db
from lti_tool.ingest.formats import FORMATS
from lti_tool.launch import keys
from lti_tool.registrations import RegistrationError, RegistrationInput, list_all, remove, upsert

lti_cli = AppGroup("lti", help="LTI keys and platform registrations.")
demo_cli = AppGroup("demo", help="The embedded demo: dev platform and demo data.")
ingest_cli = AppGroup("ingest", help="Ingest tokens and bulk imports of media and live room events.")
token_cli = AppGroup("token", help="Bearer tokens that send events and read reports for a registration.")
analytics_cli = AppGroup("analytics", help="Derived analytics data.")
roster_cli = AppGroup("roster", help="Course rosters from the platform (LTI Names and Role Provisioning).")
embeds_cli = AppGroup("embeds", help="Embed-domain rules (config/embed_domains.toml).")
ingest_cli.add_command(token_cli)


@token_cli.command("create")
@click.option("--registration", "registration_id", type=int, required=True, help="Registration id (flask lti list)")
@click.option("--name", default="", help="What the token is for, e.g. 'kaltura-sync'")
def token_create_command(registration_id, name):
    """Create a token; its secret is shown once."""
    from lti_tool.ingest import tokens

    try:
        token, secret = tokens.create(registration_id, name)
    except tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {token.id} for registration {registration_id}: {secret}")
    click.echo("Store it now: only a hash is kept. Send it as 'Authorization: Bearer <token>'.")


@token_cli.command("list")
@click.option("--registration", "registration_id", type=int, help="Only this registration's tokens")
def token_list_command(registration_id):
    """List tokens (never their secrets)."""
    from lti_tool.ingest import tokens

    rows = tokens.list_tokens(registration_id)
    if not rows:
        click.echo("no tokens; create one with `flask ingest token create --registration ID`")
    for token in rows:
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        used = f"last used {token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never used"
        click.echo(f"{token.id}  registration {token.registration_id}  {token.prefix}…  {token.name or '-'}  {state}  {used}")


@token_cli.command("revoke")
@click.argument("token_id", type=int)
def token_revoke_command(token_id):
    """Revoke a token at once."""
    from lti_tool.ingest import tokens

    try:
        token = tokens.revoke(token_id)
    except tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked token {token.id}")


def _format_help() -> str:
    """The --format help, from the registry: the suffixes that name each format."""
    named = "; ".join(f"{f.name}: " + ", ".join([*(f".{s}" for s in f.extensions), *(f".{s}.*" for s in f.suffixes)])
                      for f in FORMATS.values())
    return f"Guessed from the file name when omitted ({named})"


def _import_help() -> str:
    """The import command's help; what a file of each format holds comes from the registry."""
    return ("Import media or live room events from FILE, one item per line (csv: one row).\n\n"
            + "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values()) + ".\n\n"
            'Not all or nothing, unlike HTTP batches: a bad line is written to the rejects file as '
            '{"line", "reason", "raw"} and the other lines are stored. Importing a file again stores nothing '
            "twice (its events count as duplicates).")


@ingest_cli.command("import", help=_import_help())
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), help=_format_help())
@click.option("--registration", "registration_id", type=int, required=True, help="Registration id (flask lti list)")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
              help="Where rejected lines go (default: FILE.rejects.jsonl)")
@click.option("--batch-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Events stored per transaction")
def import_command(file, fmt, registration_id, rejects_path, batch_size):
    """Import FILE in a format of the registry (the help says which, from `_import_help`)."""
    from pathlib import Path

    from lti_tool.ingest.importer import ImportFailed, run_import

    file, rejects_path = Path(file), Path(rejects_path) if rejects_path else None
    with click.progressbar(length=file.stat().st_size, label=f"importing {file.name}") as bar:
        def advance(done: int) -> None:
            bar.update(done - bar.pos)

        try:
            summary = run_import(file, registration_id, fmt, rejects_path=rejects_path, batch_size=batch_size,
                                 on_progress=advance)
        except ImportFailed as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(summary.line())
    if summary.rejects_path:
        click.echo(f"rejected lines written to {summary.rejects_path}")


@ingest_cli.command("drain")
@click.option("--batch", type=click.IntRange(1, 20000), default=2000, show_default=True, help="Beacons per batch")
@click.option("--interval", type=click.FloatRange(0.05, 10), default=0.25, show_default=True,
              help="Seconds to wait when the queue is empty")
@click.option("--once", is_flag=True, help="Store one batch of each free shard and stop")
def drain_command(batch, interval, once):
    """Store queued Kava beacons (production: keep one or more of these running beside the web processes).

    Running drains share the queue's shards (each player session is in one shard, stored by one
    drain at a time); a drain that joins gets its share, one that stops gives its shards up. It waits
    out database and Redis outages and stops cleanly on SIGTERM. With --once: one batch of every
    shard no running drain holds."""
    from lti_tool.ingest import beacon_queue

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("beacons are queued only with REDIS_URL set; without it they are stored at once")
    current_app.logger.info("draining the beacon queue")  # sets up the app's log handler for the drain's messages
    try:
        beacon_queue.run(batch, interval, once, echo=click.echo)
    except beacon_queue.LeaseLost as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        from lti_tool.outages import database_unavailable, reason, redis_unavailable

        if once and (database_unavailable(exc) or redis_unavailable(exc)):
            raise click.ClickException(f"nothing stored, the beacons stay queued: {reason(exc)}") from exc
        raise


@ingest_cli.command("failed")
@click.option("--registration", "registration_id", type=int, help="Only this registration's beacons")
@click.option("--kind", type=click.Choice(["invalid", "unknown-registration", "error"]), help="Only beacons parked for this")
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True, help="How many to list one by one")
@click.option("--retry", is_flag=True, help="Send them back to the queue")
@click.option("--discard", is_flag=True, help="Delete them for good")
def failed_command(registration_id, kind, show, retry, discard):
    """Queued beacons that could not be stored, parked with their reason: list, retry or discard them."""
    from lti_tool.ingest import beacon_queue

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("beacons are queued only with REDIS_URL set")
    if retry and discard:
        raise click.UsageError("--retry or --discard, not both")
    if retry:
        moved = beacon_queue.requeue(registration_id=registration_id, kind=kind)
        click.echo(f"sent {moved} parked beacons back to the queue")
        return
    if discard:
        removed = beacon_queue.discard(registration_id=registration_id, kind=kind)
        click.echo(f"discarded {removed} parked beacons")
        return
    state = beacon_queue.state(registration_id)
    click.echo(f"queue: {state.waiting} waiting, {state.in_progress} being stored; "
               f"drains: {', '.join(state.drains) or 'none running'}")
    if not state.parked:
        click.echo("no parked beacons")
        return
    click.echo(f"parked: {state.parked}, oldest {state.oldest_parked:%Y-%m-%d %H:%M:%S} UTC")
    for row in state.reasons:
        if kind in (None, row.kind):
            click.echo(f"  {row.count:>6}  {row.kind}: {row.reason}  (oldest {row.oldest:%Y-%m-%d %H:%M:%S})")
    for number, beacon in enumerate(beacon_queue.parked(registration_id=registration_id, kind=kind)):
        if number >= show:
            break
        retry_at = f", retried {beacon.retry_at:%Y-%m-%d %H:%M:%S}" if beacon.retry_at else ""
        what = " ".join(f"{name}={beacon.params[name]}" for name in ("eventType", "entryId", "sessionId", "eventIndex")
                        if name in beacon.params)
        click.echo(f"{beacon.parked_at:%Y-%m-%d %H:%M:%S}  registration {beacon.registration_id}  {beacon.kind}: "
                   f"{beacon.reason}  [{what or 'unreadable'}]{retry_at}")
    click.echo("send them back with --retry (after fixing the cause), or delete them with --discard")


@analytics_cli.command("rebuild")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only plays and days from this UTC date")
@click.option("--registration", "registration_id", type=int, help="Only this registration")
def rebuild_command(since, registration_id):
    """Recompute plays, player loads and the rollups of every time zone kept from the raw events, and the room rollups
    (whole, whatever --since) from the engagement samples."""
    from datetime import timezone

    from lti_tool.extensions import db
    from lti_tool.ingest.pipeline import rebuild
    from lti_tool.ingest.room_rollups import rebuild_room_rollups

    counts = rebuild(registration_id, since.replace(tzinfo=timezone.utc) if since else None)
    click.echo(f"rebuilt {counts['plays']} plays and {counts['loads']} player loads")
    rooms = rebuild_room_rollups(db.session, registration_id)
    db.session.commit()
    click.echo(f"rebuilt the room rollups: {rooms['room_minute']} session minutes, {rooms['room_person']} session "
               "attendees")

@analytics_cli.command("retention")
@click.option("--keep-raw-months", "keep_months", type=click.IntRange(min=1), required=True,
              help="Keep the raw events of the current month and this many months before it")
@click.option("--registration", "registration_id", type=int,
              help="Only this registration's raw events (deleted row by row: partitions are shared)")
def retention_command(keep_months, registration_id):
    """Drop old raw player events; plays, player loads and rollups stay (pages keep their numbers)."""
    from lti_tool.ingest.retention import run

    if registration_id is not None:
        from lti_tool.models import Registration

        if db.session.get(Registration, registration_id) is None:
            raise click.BadParameter(f"no registration {registration_id} (flask lti list)", param_hint="--registration")
    done = run(keep_months, registration_id)
    where = f"{len(done['partitions_dropped'])} monthly partitions dropped, " if done["partitions_dropped"] else ""
    click.echo(f"raw events kept from {done['kept_from']:%Y-%m-%d} (UTC): {where}{done['rows_deleted']} rows deleted, "
               f"{done['streams_cut']} player streams cut, {done['registrations']} registrations")



@roster_cli.command("sync")
@click.option("--course", "course_id", type=int, required=True, help="Course id (as in the tool's URLs)")
def roster_sync_command(course_id):
    """Fetch a course's roster from the platform now and record its people and enrollments."""
    from lti_tool.roster import RosterError, sync_roster

    try:
        result = sync_roster(course_id)
    except RosterError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.line())


@embeds_cli.command("check")
@click.option("--file", "path", type=click.Path(dir_okay=False),
              help="Rules file to check (default: EMBED_RULES_FILE of this app)")
def embeds_check_command(path):
    """Check a rules file with this app's institution hosts (EMBED_HOSTS)."""
    from lti_tool.embed_rules import RulesError, load

    try:
        rules = load(path or current_app.config["EMBED_RULES_FILE"], current_app.config["EMBED_HOSTS"])
    except RulesError as exc:
        raise click.ClickException(str(exc)) from exc
    inactive = sum(not rule.active for rule in rules.rules)
    note = f" ({inactive} inactive: their hosts are not set)" if inactive else ""
    click.echo(f"{len(rules.rules)} rules OK{note}")


@embeds_cli.command("classify")
@click.argument("urls", nargs=-1, required=True)
def embeds_classify_command(urls):
    """What the rules in force say about each page URL: domain, category, needs action, rule line."""
    from lti_tool.embed_rules import current_rules
    from lti_tool.ingest.enrich import page_info

    book = current_app.extensions["embed_rules"]
    rules = current_rules()
    if book.error:
        click.echo(f"warning: {book.error}; using the last good rules", err=True)
    unreadable = []
    for url in urls:
        info = page_info(url)
        if info.url is None:
            unreadable.append(url)
            click.echo(f"{url}: not a page URL or local path that can be read", err=True)
            continue
        result = rules.classify(info.domain)
        rule = f"line {result.rule_line}" if result.rule_line else "no rule"
        click.echo(f"{info.domain}\t{result.category_label}\tneeds action: {result.needs_action}\t{rule}")
    if unreadable:
        raise click.exceptions.Exit(1)


@lti_cli.command("keygen")
def keygen_command():
    """Create the tool's signing key (or the next key, published before it signs)."""
    try:
        key = keys.keygen()
    except keys.KeyOperationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {key.status} key {key.kid}")


@lti_cli.command("rotate")
def rotate_command():
    """Start signing with the published next key; publish a new next key."""
    try:
        key = keys.rotate()
    except keys.KeyOperationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"now signing with {key.kid}")


@lti_cli.command("keys")
def keys_command():
    """List the tool's keys and which the JWKS publishes."""
    for key in keys.published_jwks()["keys"]:
        click.echo(key["kid"])


@lti_cli.command("register")
@click.option("--issuer", required=True, help="Platform issuer, e.g. https://canvas.instructure.com")
@click.option("--client-id", required=True, help="The developer key's client id")
@click.option("--deployment-id", "deployment_ids", multiple=True, help="A deployment id; repeat for several")
@click.option("--auth-login-url", help="OIDC authorization endpoint (Canvas Cloud: default)")
@click.option("--auth-token-url", help="OAuth2 token URL on your institution's Canvas host")
@click.option("--key-set-url", help="Platform JWKS URL (Canvas Cloud: default)")
@click.option("--title", help="A name for this registration")
@click.option("--allowed-frame-host", "frame_hosts", multiple=True, help="Host allowed to frame the tool; repeat")
@click.option("--unknown-deployment", type=click.Choice(["reject", "accept"]), help="Launches from unregistered deployments")
@click.option("--default-timezone", help="Time zone when a launch sends none")
@click.option("--player-partner-id", help="Kaltura partnerId the institution's players send in Kava beacons")
@click.option("--anonymous-beacons", type=click.Choice(["accept", "refuse"]),
              help="Beacons without a player token (anonymous viewers)")
def register_command(issuer, client_id, deployment_ids, auth_login_url, auth_token_url, key_set_url, title,
                     frame_hosts, unknown_deployment, default_timezone, player_partner_id, anonymous_beacons):
    """Register a platform (issuer + client id) and its deployments; re-running updates it."""
    data = RegistrationInput(issuer, client_id, tuple(deployment_ids), auth_login_url, auth_token_url, key_set_url,
                             None, title, tuple(frame_hosts), unknown_deployment, default_timezone,
                             player_partner_id=player_partner_id, anonymous_beacons=anonymous_beacons)
    try:
        reg, created = upsert(data)
    except RegistrationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'registered' if created else 'updated'} {reg.issuer} client {reg.client_id} "
               f"with {len(reg.deployments)} deployment(s)")


@lti_cli.command("list")
def list_command():
    """List registrations and their deployments."""
    rows = list_all()
    if not rows:
        click.echo("no registrations; add one with `flask lti register`")
    for reg in rows:
        click.echo(f"{reg.id}  {reg.issuer}  client {reg.client_id}  {reg.title}")
        click.echo(f"    login {reg.auth_login_url}\n    token {reg.auth_token_url}\n    keys  {reg.key_set_url or '(inline)'}")
        click.echo(f"    unknown deployments: {reg.unknown_deployment}; frame hosts: {', '.join(reg.allowed_frame_hosts)}")
        click.echo(f"    player partner id: {reg.player_partner_id or '-'}; anonymous beacons: "
                   f"{'accepted' if reg.allow_anonymous_beacons else 'refused'}")
        for dep in reg.deployments:
            click.echo(f"    deployment {dep.deployment_id}{' (recorded at launch)' if dep.auto_registered else ''}")


@lti_cli.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", help="Remove only this deployment")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def remove_command(issuer, client_id, deployment_id, yes):
    """Remove a registration (and what was recorded under it) or one deployment."""
    if not yes and not deployment_id:
        click.confirm(f"Remove {issuer} client {client_id} and all its courses and sessions?", abort=True)
    try:
        click.echo(remove(issuer, client_id, deployment_id))
    except RegistrationError as exc:
        raise click.ClickException(str(exc)) from exc


@demo_cli.command("setup")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="Where the demo is served")
def demo_setup_command(base_url):
    """Create the tool keys and the built-in dev platform registration."""
    from lti_tool.devplatform.platform import setup_dev_platform

    keys.ensure_keys()
    reg = setup_dev_platform(base_url)
    click.echo(f"dev platform ready: issuer {reg.issuer}, client {reg.client_id}")


@demo_cli.command("seed")
@click.option("--seed", "seed_value", type=click.IntRange(min=0), default=1, show_default=True,
              help="Same seed and same --today: the same semester, row for row")
@click.option("--events", type=click.IntRange(min=1), default=60_000, show_default=True,
              help="About this many player events (1000000 for benchmarks)")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The semester ends the day before this date (default: today)")
@click.option("--if-empty", is_flag=True, help="Do nothing when the demo registration already has events")
def demo_seed_command(seed_value, events, today, if_empty):
    """Fill the demo courses with a semester of people, media and viewing."""
    from lti_tool.devplatform.seed import SeedError, seed_demo

    step = max(100_000, events // 10)
    shown = {"next": step}

    def progress(done: int, target: int) -> None:
        if done >= shown["next"]:
            click.echo(f"  {done:,} of about {target:,} events", err=True)
            shown["next"] += step

    try:
        summary = seed_demo(seed=seed_value, events=events, today=today.date() if today else None,
                            if_empty=if_empty, progress=progress)
    except SeedError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in summary.lines():
        click.echo(line)


rq_cli = AppGroup("rq", help="Background jobs (RQ on Redis): exports, emails, roster syncs.")


@rq_cli.command("worker")
@click.argument("queues", nargs=-1, type=click.Choice(["exports", "emails", "default"]))
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then stop")
@click.option("--simple", is_flag=True, help="Run jobs in this process instead of a forked child per job")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Also move jobs whose retry is due back onto their queue")
def rq_worker_command(queues, burst, simple, scheduler):
    """Run jobs from QUEUES (default: exports, emails, default), each in an app context of this app."""
    from lti_tool.jobs import QUEUES
    from lti_tool.jobs.worker import run

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: without Redis, jobs run inside the web process")
    if current_app.config["JOB_RUNNER"] != "rq":
        click.echo("note: JOB_RUNNER is not 'rq', so this app's web processes run jobs themselves", err=True)
    run(current_app._get_current_object(), tuple(queues) or QUEUES, burst=burst, simple=simple,
        with_scheduler=scheduler)


def init_app(app: Flask) -> None:
    app.cli.add_command(lti_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(ingest_cli)
    app.cli.add_command(analytics_cli)
    app.cli.add_command(roster_cli)
    app.cli.add_command(embeds_cli)
    app.cli.add_command(rq_cli)
