"""``childlink demo``: the main job on the embedded default, end to end.

It migrates the embedded database, seeds departments and data sources, generates the demo
county, ingests, checks and links it, sets up agencies, legal bases and one demo login per role
(passwords generated now and printed once), and ends by serving the web UI and the API at
http://127.0.0.1:8000 (``--no-serve`` stops before). Later stages join here as they land, so
that one command always shows everything the platform can do.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from childlink.access.consent import seed_demo_legal_bases
from childlink.alerts.summary import AlertsSummary, alerts_summary
from childlink.cli.db import cli_settings
from childlink.cli.ingest import plan_ingest, print_results
from childlink.cli.link import print_evaluation, print_households
from childlink.cli.quality import print_truth_scores
from childlink.cli.risk_scores import demo_risk, print_demo_risk
from childlink.cli.serve import serve_app
from childlink.cli.synth import print_summary
from childlink.households.evaluate import evaluate_households
from childlink.households.service import build_households
from childlink.identity.demo import DemoAccount, seed_demo_accounts
from childlink.ingest.mapping import available_mappings
from childlink.ingest.service import ingest_file
from childlink.linkage.evaluate import evaluate_clusters, load_truth
from childlink.linkage.prepare import prepare_records
from childlink.linkage.service import link_county
from childlink.privacy.keys import FieldCipher, KeyStore
from childlink.privacy.sealing import assign_child_keys, seal_records
from childlink.quality.report import QualityReport, build_report, render_html
from childlink.quality.truth_check import score_against_truth
from childlink.regions.service import load_regions
from childlink.sources.service import seed_reference_data
from childlink.store import migrate
from childlink.store.engine import (
    build_engine,
    create_session_factory,
    database_errors,
    redact_url,
    unit_of_work,
)
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county

console = Console()


def demo(
    children: int = typer.Option(
        10_000, "--children", "-n", min=50, help="Children in the county."
    ),
    seed: int = typer.Option(42, "--seed", "-s", min=0, help="Random seed of the county."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where to write the county; default <data dir>/demo-county."
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="End by serving the web UI and API (Ctrl-C stops)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to serve on."),
) -> None:
    """Build the demo county on the embedded default and run every pipeline stage that exists."""
    settings = cli_settings()
    county_dir = out or settings.data_dir / "demo-county"
    url = redact_url(settings.effective_database_url)

    console.rule("[bold]1. Database")
    migrate.upgrade(settings)
    console.print(f"{url} migrated to revision {migrate.current(settings)}")

    console.rule("[bold]2. Synthetic county")
    with console.status(f"generating {children:,} children into {county_dir} ..."):
        summary = generate_county(
            SynthConfig(children=children, seed=seed), county_dir, overwrite=True
        )
    print_summary(summary)

    console.rule("[bold]3. Reference data")
    with (county_dir / "reference" / "regions.csv").open(encoding="utf-8", newline="") as handle:
        region_rows = list(csv.DictReader(handle))
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            unit_of_work(create_session_factory(engine)) as session,
        ):
            seeded = seed_reference_data(session)
            regions = load_regions(session, region_rows)
    finally:
        engine.dispose()
    console.print(
        f"{regions:,} regions loaded; {seeded.departments_created} department(s) and "
        f"{seeded.sources_created} data source(s) added"
    )
    console.rule("[bold]4. Ingest every department export")
    mappings = available_mappings(settings.mappings_dir)
    plan = plan_ingest([], None, county_dir, mappings)
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    results = []
    try:
        with database_errors(settings.effective_database_url):
            for mapping, path in plan:
                with console.status(f"ingesting {mapping.source} ({path.name}) ..."):
                    results.append(ingest_file(factory, mapping, path))
            print_results(results)

            console.rule("[bold]5. Data quality")
            with factory() as session:
                report = build_report(session, samples=0)
                scores = score_against_truth(session, county_dir)
    finally:
        engine.dispose()
    html_path = settings.data_dir / "quality-report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    print_reasons(report)
    print_truth_scores(scores)
    verdict = "[green]every row reconciles[/]" if report.reconciles else "[red]NOT reconciled[/]"
    console.print(f"{verdict}; full report: {html_path} (or `childlink quality report`)")

    console.rule("[bold]6. Link records into the master child index")
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    try:
        with database_errors(settings.effective_database_url):
            with console.status("linking (deterministic ID pass, then Splink) ..."):
                linked = link_county(factory, data_dir=settings.data_dir)
            with factory() as session:
                frame = prepare_records(session)
    finally:
        engine.dispose()
    console.print(
        f"{linked.records:,} child records → {linked.children:,} master children "
        f"({linked.masters_created:,} new, {linked.masters_kept:,} kept); "
        f"{linked.pairs_compared:,} pairs compared in {linked.seconds:.1f} s"
    )
    stored = frame.select("rec_id", pl.col("master_child_id").alias("cluster"))
    evaluation = evaluate_clusters(
        frame,
        stored,
        load_truth(county_dir),
        model="childlink",
        pairs_compared=linked.pairs_compared,
        seconds=linked.seconds,
    )
    print_evaluation([evaluation])

    console.rule("[bold]7. Households: guardians and siblings")
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    try:
        with database_errors(settings.effective_database_url):
            with console.status("linking siblings and guardians into families ..."):
                households = build_households(factory)
            with factory() as session:
                household_scores = evaluate_households(session, county_dir)
    finally:
        engine.dispose()
    print_households(households, household_scores)

    console.rule("[bold]8. Protection at rest: child keys and sealed sensitive fields")
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    try:
        with database_errors(settings.effective_database_url):
            keys = KeyStore.from_settings(settings)
            with unit_of_work(factory) as session:
                child_keys = assign_child_keys(session, keys)
            with console.status("encrypting sensitive attributes (AES-GCM) ..."):
                sealed = seal_records(factory, FieldCipher(keys))
    finally:
        engine.dispose()
    console.print(
        f"{child_keys:,} master children keyed by HMAC of their ID number; "
        f"{sealed.values_sealed:,} sensitive values of {sealed.records_sealed:,} records sealed; "
        f"keys kept outside the database in {keys.directory}"
    )

    console.rule("[bold]9. Access: agencies, legal bases and one demo login per role")
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            unit_of_work(create_session_factory(engine)) as session,
        ):
            bases = seed_demo_legal_bases(session)
            accounts = seed_demo_accounts(session)
    finally:
        engine.dispose()
    console.print(
        f"legal bases: {bases.statutory} statutory duty (per source), {bases.consents} guardian "
        f"consent(s), {bases.consents_expired} of them expired"
    )
    print_demo_logins(accounts)

    console.rule("[bold]10. Risk monitoring: models, evaluation report, scores, alerts")
    engine = build_engine(settings)
    factory = create_session_factory(engine)
    try:
        with (
            database_errors(settings.effective_database_url),
            console.status("training, evaluating and scoring (features as of each date) ..."),
        ):
            risk = demo_risk(factory, settings.data_dir, county_dir, FieldCipher(keys))
    finally:
        engine.dispose()
    print_demo_risk(risk)

    console.rule("[bold]11. Alerts: routed to the responsible demo users")
    engine = build_engine(settings)
    try:
        with (
            database_errors(settings.effective_database_url),
            create_session_factory(engine)() as session,
        ):
            alert_summary = alerts_summary(session)
    finally:
        engine.dispose()
    print_demo_alerts(alert_summary)

    console.rule("[bold green]Demo county ready")
    console.print(f"department exports: {county_dir / 'exports'}")
    console.print(f"ground truth (for measuring only): {county_dir / 'truth'}")
    console.print("quarantined rows: `childlink quarantine list`")
    if serve:
        console.print(
            f"serving at [bold]http://{host}:{port}/[/] (API docs: /api/v1/docs); Ctrl-C stops"
        )
        serve_app(settings, host, port)


def print_demo_logins(accounts: list[DemoAccount]) -> None:
    """The demo accounts with their passwords (generated now, shown only here)."""
    table = Table(title="Demo logins (passwords generated for this run only)")
    table.add_column("username", no_wrap=True)
    table.add_column("password", no_wrap=True, min_width=16)
    table.add_column("role / 角色")
    table.add_column("jurisdiction")
    table.add_column("caseload", justify="right")
    for account in accounts:
        where = (
            f"{account.jurisdiction_name} {account.jurisdiction}"
            if account.jurisdiction
            else "(whole system)"
        )
        table.add_row(
            account.username,
            account.password,
            f"{account.role.label_zh} {account.role.value}",
            where,
            str(account.caseload),
        )
    console.print(table)


def print_demo_alerts(summary: AlertsSummary) -> None:
    """Open alerts by risk and severity, who received them, and the outbox."""
    table = Table(title="Open alerts (one per child and risk)")
    table.add_column("risk")
    table.add_column("severity")
    table.add_column("alerts", justify="right")
    for (risk, severity), count in sorted(summary.open_by_risk.items()):
        table.add_row(risk, severity, f"{count:,}")
    console.print(table)
    people = Table(title="Routed to demo users (live in their inbox at /alerts)")
    people.add_column("username")
    people.add_column("role")
    people.add_column("alerts", justify="right")
    people.add_column("inbox items", justify="right")
    for username, role, routed, inbox in summary.per_user:
        people.add_row(username, role, f"{routed:,}", f"{inbox:,}")
    console.print(people)
    queued = ", ".join(
        f"{channel}/{status} {count:,}"
        for (channel, status), count in sorted(summary.outbox.items())
    )
    console.print(f"outbox: {queued or 'empty'}; next escalation due: {summary.next_escalation}")


def print_reasons(report: QualityReport) -> None:
    """Quarantine reasons over every source, most frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for source in report.sources:
        for reason in source.summary.quarantine_reasons:
            key = (reason.code, reason.label_zh)
            counts[key] = counts.get(key, 0) + reason.count
    table = Table(title="Quarantine reasons (all sources)")
    table.add_column("reason")
    table.add_column("原因")
    table.add_column("rows", justify="right")
    for (code, label), count in sorted(counts.items(), key=lambda item: -item[1]):
        table.add_row(code, label, f"{count:,}")
    console.print(table)
