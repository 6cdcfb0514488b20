"""``molexp view``: write one self-contained HTML page of a sweep or of runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Tuple

import click

from molexp_core.cli.completion import complete_run_ids, complete_run_profiles
from molexp_core.cli.options import runs_dir_option


@click.command()
@click.argument("refs", nargs=-1, metavar="[RUN|SWEEP]...", shell_complete=complete_run_ids)
@click.option("--script", "script", default=None, metavar="NAME",
              help="With no RUN or SWEEP: the newest sweep, else the newest runs, of this "
              "script (train.py, train, or a path to it).")
@click.option("--profile", "-p", default=None, shell_complete=complete_run_profiles,
              help="With no RUN or SWEEP: only sweeps and runs of this profile.")
@click.option("--limit", "-n", type=click.IntRange(1), default=None,
              help="With no RUN or SWEEP and no sweep to show: at most this many runs "
              "(default 200).")
@click.option("--details", type=click.IntRange(0), default=100, show_default=True,
              help="Runs whose full record, log tails, curves and artifacts go in the page "
              "(when there are more: up to half of them runs that did not succeed).")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Where to write the page (default: molexp-view-<id>.html "
              "in the current directory); '-' for stdout.")
@click.option("--open", "open_it", is_flag=True, help="Open the page in a web browser.")
@click.option("--serve", "serve", is_flag=True, help="Serve the page on 127.0.0.1 instead, "
              "rebuilt every --interval seconds while a sweep runs (Ctrl-C stops).")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="With --serve: the port (default: a free one).")
@click.option("--interval", type=click.FloatRange(0.5), default=5.0, show_default=True,
              help="With --serve: seconds between refreshes.")
@runs_dir_option
def view(refs: Tuple[str, ...], script: Optional[str], profile: Optional[str],
         limit: Optional[int], details: int, output: Optional[Path], open_it: bool,
         serve: bool, port: int, interval: float, runs_dir: Optional[Path]) -> None:
    """Write one self-contained HTML page of a sweep or of runs, and print its path.

    With no RUN or SWEEP: the newest sweep, else the newest runs of a script.
    The page (data, code and styles inline; it requests nothing from the
    network) has the run table, diff-first configs, the sweep heatmap and the
    command that fills its holes, scatter and parallel coordinates, replicates
    as mean +- std, a badge on runs whose code or environment differs, learning
    curves and each run's details.
    """
    from molexp_core.errors import MolexpUsageError
    from molexp_core.runs import store as runstore
    from molexp_core.view import page
    from molexp_core.view.select import select

    if serve and (output is not None or open_it):
        raise MolexpUsageError("--serve shows the page on 127.0.0.1; it writes no file "
                               "(drop -o/--open)")
    if not serve and (port or interval != 5.0):
        raise MolexpUsageError("--port and --interval go with --serve")
    root = runstore.runs_root(runs_dir)
    argv = ["molexp", "view", *sys.argv[2:]] if sys.argv[1:2] == ["view"] else ["molexp", "view"]

    if serve:
        from molexp_core.view.serve import serve_page

        serve_page(lambda: select(root, refs, script, profile, limit), details, argv,
                   port, interval)
        return
    selection = select(root, refs, script, profile, limit)
    data = page.page_data(selection, details, argv)
    text = page.render(data, data["title"])
    if output is not None and str(output) == "-":
        click.echo(text, nl=False)
        return
    target = output or Path.cwd() / (
        f"molexp-view-{selection.sweeps[0][0].name}.html"
        if len(selection.sweeps) == 1 and not selection.runs else "molexp-view.html")
    _write(target, text)
    click.echo(str(target.absolute()))
    if open_it:
        import webbrowser

        if not webbrowser.open(target.absolute().as_uri()):
            click.echo("warning: no web browser could be started; open the file yourself",
                       err=True)


def _write(target: Path, text: str) -> None:
    """Write the page atomically (a temp file renamed over it), never through a link."""
    from molexp_core.errors import MolexpError
    from molexp_core.runs import safe_files

    try:
        safe_files.write_atomic(target, text.encode("utf-8"), durable=False)
    except safe_files.RunStoreError as exc:
        raise MolexpError(f"-o {target}: {exc.format_message()}") from None
    except FileNotFoundError:
        raise MolexpError(f"-o {target}: the directory {target.parent} does not exist") \
            from None
