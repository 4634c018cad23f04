"""Commands that list, show, alias, delete, export and import registered versions."""

from __future__ import annotations

from pathlib import Path

import typer

from mldeploy.cli.app import app, console, state, write_output
from mldeploy.cli.render import metrics_text, schema_table, table
from mldeploy.errors import ConfigError


@app.command()
def models() -> None:
    """List every model in the registry with its latest version and aliases.

    Example: `mldeploy models`
    """
    with state.open_registry() as registry:
        rows = []
        for summary in registry.models():
            aliases = registry.aliases(summary.name)
            named = ", ".join(f"{a}→{v}" for a, v in sorted(aliases.items()))
            rows.append([summary.name, summary.latest_version, summary.version_count, named])
    console.print(table("Models", ["name", "latest", "versions", "aliases"], rows) if rows else "no models yet: run `mldeploy train` or `mldeploy demo`")


@app.command()
def versions(name: str = typer.Argument(..., help="Model name, e.g. salary.")) -> None:
    """List the versions of one model with metrics, parent and size.

    Example: `mldeploy versions salary`
    """
    with state.open_registry() as registry:
        aliases = registry.aliases(name)
        records = registry.versions(name)
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    rows = [
        [r.version, r.created_at.strftime("%Y-%m-%d %H:%M"), r.parent_version, metrics_text(r.manifest.get("metrics", {})),
         f"{r.size_bytes / 1024:,.0f} KiB", ", ".join(sorted(by_version.get(r.version, [])))]
        for r in records
    ]
    console.print(table(f"Versions of {name}", ["version", "created (UTC)", "parent", "held-out metrics", "size", "aliases"], rows))


@app.command()
def show(ref: str = typer.Argument(..., help="NAME@VERSION, NAME:ALIAS or NAME (latest).")) -> None:
    """Show one version: manifest, metrics, lineage, schema and file digests.

    Example: `mldeploy show salary:production`
    """
    with state.open_registry() as registry:
        bundle = registry.get(ref)
        lineage = " ← ".join(str(r) for r in registry.lineage(bundle.ref))
    m = bundle.manifest
    console.print(f"[bold]{bundle.ref}[/]  task={m.task}  created={m.created}  training rows={m.training_rows}")
    console.print(f"lineage: {lineage}")
    console.print(f"held-out metrics: {metrics_text(m.metrics) or '(none)'}")
    console.print("libraries: " + ", ".join(f"{k} {v}" for k, v in m.libraries.items()))
    console.print(f"training data fingerprint: {m.data_fingerprint}")
    console.print(f"signed: {'yes' if bundle.signature else 'no'}")
    console.print(schema_table(bundle.schema))
    compiled = m.compiled_info
    console.print(f"compiled form: {compiled.status} ({compiled.reason})")
    if compiled.engines:
        console.print(f"proven engines: {', '.join(compiled.engines)} (the first that runs here serves)")
    if compiled.plan:
        steps = [[p.step, p.status, p.reason] for p in compiled.plan]
        console.print(table("Compiled plan", ["step", "status", "how / why not"], steps))
    console.print(table("Files", ["file", "sha256"], [[name, digest] for name, digest in sorted(m.files.items())]))


@app.command()
def alias(
    ref: str = typer.Argument(..., help="The version to point at: NAME@VERSION (or NAME:OTHER_ALIAS)."),
    name: str = typer.Argument(..., help="The alias, e.g. production or staging."),
) -> None:
    """Point an alias at a version; the alias's history is kept.

    Example: `mldeploy alias salary@3 production`
    """
    from mldeploy.bundle import BundleRef
    from mldeploy.registry import RESERVED_ALIASES

    if name in RESERVED_ALIASES:  # the registry refuses it too; here the message can show the commands
        model = BundleRef.parse(ref).name
        raise ConfigError(
            f'"{name}" cannot be an alias: `{model}` alone already means the newest version of {model}, and an alias '
            f"named {name} would stop agreeing with it at the next version; choose another name, e.g. "
            f"`mldeploy alias {ref} production`"
        )
    with state.open_registry() as registry:
        resolved = registry.set_alias(ref, name)
    console.print(f"{resolved.name}:{name} → {resolved}")


@app.command()
def delete(
    ref: str = typer.Argument(..., help="NAME@VERSION to delete."),
    force: bool = typer.Option(False, "--force", help="Also remove aliases that point at it."),
) -> None:
    """Delete a version (refused while an alias points at it, unless --force).

    Example: `mldeploy delete salary@1`
    """
    with state.open_registry() as registry:
        deleted = registry.delete(ref, force=force)
    console.print(f"deleted {deleted.ref}")
    for removed in deleted.removed_aliases:
        console.print(f"removed alias {deleted.ref.name}:{removed}, which pointed at {deleted.ref}")


@app.command("export")
def export_bundle(
    ref: str = typer.Argument(..., help="NAME@VERSION, NAME:ALIAS or NAME."),
    out: Path = typer.Option(..., "--out", help="Archive file to write, e.g. salary-3.mldeploy."),
) -> None:
    """Write a version as one archive file, to hand to another team or machine.

    Example: `mldeploy export salary:production --out salary.mldeploy`
    """
    with state.open_registry() as registry:
        resolved = registry.resolve(ref)
        data = registry.archive(resolved)
    write_output(out, data)
    console.print(f"wrote {resolved} to {out} ({len(data) / 1024:,.0f} KiB)")


@app.command("import")
def import_bundle(
    file: Path = typer.Argument(..., help="An archive written by `mldeploy export`."),
    public_key: Path = typer.Option(None, "--public-key", help="Refuse the archive unless signed by this Ed25519 key."),
    sign_key: Path = typer.Option(
        None, "--sign-key", help="Sign the registry's record of the new version with this Ed25519 private key "
        "(readers with --public-key require it).",
    ),
) -> None:
    """Register an exported archive as the next version of its name (digests are checked).

    Example: `mldeploy import salary.mldeploy --public-key release.pub --sign-key release.key`
    """
    from mldeploy.bundle import Bundle
    from mldeploy.bundle.signing import load_private_key

    if not file.is_file():
        raise ConfigError(f"archive {file} does not exist; check the path")
    key = load_private_key(sign_key) if sign_key else None  # a bad key file fails before anything is unpacked
    bundle = Bundle.from_archive(file.read_bytes(), public_key=public_key or state.public_key)
    with state.open_registry(create=True) as registry:
        ref = registry.register(bundle, sign_with=key)
    console.print(f"imported {file} as {ref}")
