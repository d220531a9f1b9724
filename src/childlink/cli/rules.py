"""``childlink rules``: check indicator-rule files and run them against fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from childlink.risk.rules import (
    RuleError,
    load_rule_file,
    load_rules,
    run_fixtures,
    shipped_rules_dir,
)

console = Console()

rules_app = typer.Typer(
    name="rules", help="Risk indicator rules (versioned YAML files).", no_args_is_help=True
)


@rules_app.command("validate")
def validate(
    files: list[Path] | None = typer.Argument(
        None, help="Rule files to check (default: every shipped rule file)."
    ),
) -> None:
    """Check rule files and explain every problem; exit 1 if any file is invalid."""
    paths = files or sorted(shipped_rules_dir().glob("*.yaml"))
    failed = 0
    for path in paths:
        try:
            rules = load_rule_file(path)
        except RuleError as error:
            failed += 1
            console.print(f"[red]✗ {path}[/] ({len(error.problems)} problem(s))", highlight=False)
            for problem in error.problems:
                console.print(f"    - {problem}", highlight=False)
            continue
        listed = ", ".join(f"{r.id} v{r.version}" for r in rules)
        console.print(f"[green]✓ {path}[/]: {len(rules)} rule(s): {listed}", highlight=False)
    if not failed and not files:
        load_rules()  # ids must also be unique across the shipped files
    if failed:
        raise typer.Exit(code=1)


@rules_app.command("test")
def run_rule_tests(
    file: Path = typer.Argument(..., help="Rule file (or folder of rule files) under test."),
    fixtures: Path = typer.Option(
        ...,
        "--fixtures",
        help="Fixture case (*.yaml or *.json) with expected hits, or a folder of them.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Run the rules of FILE on every fixture case; exit 1 if any case fails.

    A case lists children, their events and the date, and every hit it expects of the rules in
    FILE (hits of other rules are ignored). Missing and unexpected hits are printed.
    """
    results = run_fixtures(load_rules(file), fixtures)
    failed = [r for r in results if not r.passed]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "rules": str(file),
                    "cases": len(results),
                    "failed": len(failed),
                    "results": [r.as_dict() for r in results],
                },
                ensure_ascii=False,
            )
        )
    else:
        for result in results:
            mark = "[green]✓[/]" if result.passed else "[red]✗[/]"
            console.print(f"{mark} {result.name}: {len(result.actual)} hit(s)", highlight=False)
            for child, rule in result.missing:
                console.print(f"    - missing: {rule} for {child}", highlight=False)
            for child, rule in result.unexpected:
                console.print(f"    - unexpected: {rule} for {child}", highlight=False)
        console.print(
            f"{len(results) - len(failed)}/{len(results)} case(s) passed", highlight=False
        )
    if failed:
        raise typer.Exit(code=1)
