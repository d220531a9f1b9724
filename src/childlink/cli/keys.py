"""``childlink keys``: field-encryption keys, the seal step, key rotation, child keys."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from childlink.audit.service import record_event
from childlink.cli.access import default_actor, session_factory
from childlink.cli.db import cli_settings
from childlink.privacy.keys import FieldCipher, KeyStore, KeyStoreError
from childlink.privacy.sealing import assign_child_keys, key_usage, rotate_keys, seal_records
from childlink.store.engine import unit_of_work

console = Console()

keys_app = typer.Typer(
    name="keys",
    help="Keys outside the database: seal sensitive fields, rotate keys, child keys.",
    no_args_is_help=True,
)


def _store() -> KeyStore:
    return KeyStore.from_settings(cli_settings())


@keys_app.command("status")
def status_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Where the keys are, which field key is active, and how many sealed rows use each."""
    store = _store()
    cipher = FieldCipher(store)
    with session_factory() as factory, factory() as session:
        usage = key_usage(session)
    document = {
        "secrets_dir": str(store.directory),
        "active": cipher.active_key_id,
        "keys": {key: usage.get(key, 0) for key in cipher.key_ids()},
        "unknown_keys_in_use": sorted(set(usage) - set(cipher.key_ids())),
    }
    if as_json:
        typer.echo(json.dumps(document))
        return
    console.print(f"secrets: {store.directory}", highlight=False)
    table = Table(title="Field-encryption keys")
    table.add_column("key id")
    table.add_column("active")
    table.add_column("sealed rows", justify="right")
    for key in cipher.key_ids():
        table.add_row(key, "yes" if key == cipher.active_key_id else "", f"{usage.get(key, 0):,}")
    console.print(table)
    if document["unknown_keys_in_use"]:
        console.print(f"[red]rows sealed with unknown keys:[/] {document['unknown_keys_in_use']}")


@keys_app.command("seal")
def seal_command(
    batch_size: int = typer.Option(500, "--batch-size", min=1, help="Records per transaction."),
) -> None:
    """Encrypt the sensitive attributes of records not sealed yet (run after ingest)."""
    cipher = FieldCipher(_store())
    with session_factory() as factory:
        result = seal_records(factory, cipher, batch_size=batch_size)
        with unit_of_work(factory) as session:
            record_event(
                session,
                actor=default_actor(),
                action="keys.seal",
                outcome="ok",
                details={"records": result.records_sealed, "values": result.values_sealed},
            )
    console.print(
        f"sealed {result.values_sealed:,} value(s) of {result.records_sealed:,} record(s) "
        f"under key {cipher.active_key_id}"
    )


@keys_app.command("rotate")
def rotate_command(
    batch_size: int = typer.Option(500, "--batch-size", min=1, help="Rows per transaction."),
) -> None:
    """Create a new field key and re-encrypt every sealed row under it, in batches.

    Nothing stops meanwhile: old keys stay readable until `childlink keys retire`.
    """
    store = _store()
    with session_factory() as factory:
        result = rotate_keys(factory, store, batch_size=batch_size)
        with unit_of_work(factory) as session:
            record_event(
                session,
                actor=default_actor(),
                action="keys.rotate",
                outcome="ok",
                details={"new_key": result.new_key_id, "reencrypted": result.reencrypted},
            )
    console.print(
        f"new active key {result.new_key_id}; {result.reencrypted:,} row(s) re-encrypted "
        f"in {result.batches} batch(es)"
    )


@keys_app.command("retire")
def retire_command(key_id: str = typer.Argument(..., help="An old field key id.")) -> None:
    """Delete an old field key once no sealed row uses it."""
    store = _store()
    with session_factory() as factory, factory() as session:
        in_use = key_usage(session).get(key_id, 0)
    if in_use:
        raise KeyStoreError(f"{in_use} sealed row(s) still use {key_id}: run `keys rotate`")
    store.retire_field_key(key_id)
    console.print(f"retired {key_id}")


@keys_app.command("child-keys")
def child_keys_command() -> None:
    """Fill the pseudonymous child key (HMAC of the ID number) of master children."""
    store = _store()
    with session_factory() as factory, unit_of_work(factory) as session:
        assigned = assign_child_keys(session, store)
    console.print(f"{assigned:,} master children received a child key")
