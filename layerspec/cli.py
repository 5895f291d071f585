"""The command line: the only module that prints results or picks exit codes.

Where output goes, one rule for every command: **a command's result goes to
stdout; diagnostics about the run itself go to stderr.** The result is what
the command was asked for: ``summary``'s table, ``run``'s array, ``diff``'s
diff, ``layers``' listing, and ``check``'s findings with their tally — a
linter's report is its result, as with ruff, mypy or flake8, so ``check >
report.txt`` captures it and exit code 1 says that problems were found.
Diagnostics are everything else: a spec that stops ``summary``/``run``/
``init``/``diff`` from producing their result (``PATH:LINE:COL: error:
MESSAGE``), notes (random weights), progress, and ``wrote FILE`` lines.

Every command turns layerspec's own errors into ``PATH:LINE:COL: error:
MESSAGE`` on stderr and exit code 1 in one place (:class:`_Group`); click
handles usage errors with exit code 2. Output never fails on a stream that
cannot encode it (cp1252 or ASCII, as Windows redirects): tables and diffs
are then drawn in ASCII, and any other character spelled in ASCII or
escaped (:func:`_echo`). Heavy modules are imported inside the commands that
need them, so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import LayerspecError, flatten


def format_error(error: LayerspecError) -> str:
    """``PATH:LINE:COL: error: MESSAGE`` (or without the parts not known)."""
    where = f"{error.position}: " if error.position is not None else ""
    return f"{where}error: {error.message}"


def report(error: LayerspecError) -> None:
    """Print every problem inside ``error`` to stderr."""
    for single in flatten(error):
        _echo(format_error(single), err=True)


def _can_encode(stream, text: str) -> bool:
    """Whether ``stream``'s declared encoding can write ``text``."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _echo(text: str, err: bool = False) -> None:
    """``click.echo`` that never fails on the stream's encoding.

    Text the stream cannot encode has layerspec's own characters (box
    drawing, arrows, the ellipsis) spelled in ASCII, and anything still
    unencodable (a name in another script) backslash-escaped (``\\xe8``).
    """
    stream = sys.stderr if err else sys.stdout
    if not _can_encode(stream, text):
        from .summary import to_ascii

        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            text = to_ascii(text).encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:  # an encoding Python does not know: ASCII is safe anywhere
            text = to_ascii(text).encode("ascii", "backslashreplace").decode("ascii")
    click.echo(text, err=err)


def _ascii_only() -> bool:
    """Whether stdout cannot encode box drawing and arrows, so tables and
    diffs are laid out in ASCII (with columns still aligned)."""
    return not _can_encode(sys.stdout, "┏━┃│…→")


#: What to try after running out of memory, for the commands where it helps.
OUT_OF_MEMORY_ADVICE = {"run": " (try a smaller --batch-size or --max-memory)"}


class _Group(click.Group):
    """Runs a command, turning layerspec errors into clean exits."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LayerspecError as error:
            report(error)
            sys.exit(1)
        except KeyboardInterrupt:
            _echo("interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except MemoryError:
            _echo(f"error: out of memory{OUT_OF_MEMORY_ADVICE.get(ctx.invoked_subcommand, '')}", err=True)
            sys.exit(1)
        except Exception as error:  # a bug: say so plainly, without a traceback
            if os.environ.get("LAYERSPEC_DEBUG"):
                raise
            _echo(f"error: internal error: {type(error).__name__}: {error} "
                  "(set LAYERSPEC_DEBUG=1 for a traceback, and please report it)", err=True)
            sys.exit(1)


def parse_shape(ctx, param, value):
    """``28,28,1`` (or ``None,128``) → ``(28, 28, 1)``; click callback."""
    if value is None:
        return None
    sizes = []
    for part in value.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(","):
        part = part.strip()
        if part.lower() in ("none", "null", "?"):
            sizes.append(None)
        elif part.isdigit() and int(part) > 0:
            sizes.append(int(part))
        else:
            raise click.BadParameter(f"expected sizes separated by commas, like 28,28,1 (None for unknown), "
                                     f"got {value!r}")
    return tuple(sizes)


def _parse_named_inputs(ctx, param, values) -> dict:
    named = {}
    for value in values:
        name, equals, path = value.partition("=")
        if not equals or not name or not path:
            raise click.BadParameter(f"expected NAME=FILE.npy, got {value!r}")
        if name in named:
            raise click.BadParameter(f"input '{name}' is given twice")
        named[name] = path
    return named


def _parse_columns(ctx, param, value):
    if value is None:
        return None
    from .summary import COLUMNS

    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(COLUMNS)}; got {value!r}")
    return tuple(names)


def _terminal_width() -> int | None:
    """The terminal's width when stdout is one; a pipe gets the full table."""
    if not sys.stdout.isatty():
        return None
    import shutil

    return shutil.get_terminal_size().columns


input_shape_option = click.option(
    "--input-shape", callback=parse_shape, metavar="SIZES",
    help="Per-sample input shape, e.g. 28,28,1 (None for unknown); fills the spec's 'input'.")
class MemorySize(click.ParamType):
    """A size in bytes: 1000000, 512K, 256M, 2G, 1.5GiB (K = 1024 bytes)."""

    name = "size"
    _UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        import re

        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", str(value))
        if not match:
            self.fail(f"expected a size like 512M or 2G, got {value!r}", param, ctx)
        size = int(float(match.group(1)) * self._UNITS[match.group(2).lower()])
        if size < 1:
            self.fail(f"the size must be at least 1 byte, got {value!r}", param, ctx)
        return size


def _load_plugins(ctx, param, value):
    if value:
        from .plugins import load_plugins

        load_plugins(value)
    return value


plugin_option = click.option(
    "--plugin", "plugins", multiple=True, metavar="FILE.py|MODULE", callback=_load_plugins, expose_value=False,
    is_eager=True, help="Load custom layers from a Python file or module (repeatable). "
                        "LAYERSPEC_PLUGINS and installed 'layerspec.layers' entry points load too.")
seed_option = click.option("--seed", type=int, default=0, show_default=True,
                           help="Seed for random weights.")


def _parse_set(ctx, param, values) -> dict:
    """``--set NAME=VALUE`` (repeatable) → ``{NAME: value}``, VALUE read as a
    YAML scalar would be (32 is an int, 0.5 a float, true a boolean, null
    null, anything else text)."""
    from .errors import Position
    from .yamlread import resolve_plain

    settings = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", ctx=ctx, param=param)
        settings[name] = resolve_plain(text, Position("--set"))
    return settings


variant_option = click.option("--variant", metavar="NAME", help="Build the spec's variant NAME (from its "
                              "'variants').")
set_option = click.option("--set", "set_values", multiple=True, metavar="NAME=VALUE", callback=_parse_set,
                          help="Set the model argument NAME (repeatable; after --variant). VALUE reads as YAML: "
                               "32, 0.5, true, relu.")

diagram_option = click.option("--diagram", is_flag=True,
                              help="With --format markdown: append a Mermaid diagram of the model, which GitHub "
                                   "renders (diff: the changed layers highlighted).")


def _require_markdown_for_diagram(diagram: bool, output_format: str) -> None:
    if diagram and output_format != "markdown":
        raise click.UsageError("--diagram goes with --format markdown")


def _settings(variant: str | None, values: dict):
    """The ``Settings`` of ``--variant`` and ``--set``; None when neither is given."""
    from .blocks import Settings

    return Settings(variant, values) if variant is not None or values else None


def _left_at_default(parameter: str) -> bool:
    """Whether the current command's ``parameter`` was not given by the user."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(parameter) is ParameterSource.DEFAULT


@click.group(cls=_Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="layerspec")
@click.pass_context
def main(ctx):
    """Describe neural networks in YAML; summarise, check and run them."""
    if ctx.invoked_subcommand is None:
        # Bare `layerspec`: the help is what was asked for (stdout, exit 0).
        _echo(ctx.get_help())


@main.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@input_shape_option
@plugin_option
@click.option("--format", "output_format", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True, help="Output format.")
@click.option("--columns", callback=_parse_columns, metavar="NAMES",
              help="Table columns, comma-separated, from: input_shape, output_shape, params, trainable, macs, "
                   "activation_bytes (default: output_shape,params,macs).")
@click.option("--width", type=click.IntRange(min=20), help="Fit the table to this many characters "
              "(default: the terminal's width; unlimited when not a terminal).")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Also estimate the inference memory for a batch of this size.")
@click.option("--depth", type=click.IntRange(min=0), metavar="N",
              help="Show block contents N levels deep; deeper levels fold into their block's row "
                   "(0: top-level rows only; default: every level). Totals and JSON do not change.")
@diagram_option
@variant_option
@set_option
def summary(spec, input_shape, output_format, columns, width, batch_size, depth, diagram, variant, set_values):
    """Print each layer's output shape, parameters and costs."""
    from .spec import build_model, read_spec
    from .summary import DEFAULT_COLUMNS, render_json, render_markdown, render_table, summarize

    _require_markdown_for_diagram(diagram, output_format)
    data = summarize(build_model(read_spec(spec, _settings(variant, set_values)), input_shape),
                     batch_size=batch_size)
    columns = columns or DEFAULT_COLUMNS
    if output_format == "json":
        _echo(render_json(data))  # the whole tree: blocks carry their depth for readers to fold
    elif output_format == "markdown":
        text = render_markdown(data, columns, depth=depth)
        if diagram:
            from .diagram_markdown import summary_diagram_markdown

            text = text.rstrip("\n") + "\n\n" + summary_diagram_markdown(data, depth=depth)
        _echo(text)
    else:
        _echo(render_table(data, columns, width or _terminal_width(), ascii_only=_ascii_only(), depth=depth))


@main.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.argument("input_paths", metavar="[INPUT.npy...]", nargs=-1, type=click.Path(dir_okay=True))
@click.option("--input", "named_inputs", multiple=True, metavar="NAME=FILE.npy", callback=_parse_named_inputs,
              help="The file of the model input NAME (repeatable); or give files in input order, or one .npz "
                   "keyed by input name.")
@click.option("--weights", type=click.Path(dir_okay=True), help="Weights .npz (from 'layerspec init' or Keras).")
@seed_option
@click.option("-o", "--output", type=click.Path(dir_okay=True),
              help="Write the output to this .npy file ('-' for standard output); a model with several "
                   "outputs writes one .npz keyed by output name.")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Rows per forward step (default: as many as --max-memory allows).")
@click.option("--max-memory", type=MemorySize(), metavar="SIZE",
              help="Memory budget for one batch's activations, e.g. 512M or 2G (default 256M); "
                   "sets the default batch size.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), help="Override the spec's dtype.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar on stderr (default: on a terminal, for runs of several batches).")
@click.option("--allow-nonfinite", is_flag=True, help="Accept NaN and infinite values in the input and weights.")
@click.option("--engine", type=click.Choice(["numpy", "onnxruntime"]), default="numpy", show_default=True,
              help="What computes: layerspec's NumPy layers, or the model exported to ONNX and run in ONNX "
                   "Runtime (pip install 'layerspec-yaml[onnxruntime]').")
@variant_option
@set_option
@plugin_option
def run(spec, input_paths, named_inputs, weights, seed, output, batch_size, max_memory, dtype, progress,
        allow_nonfinite, engine, variant, set_values):
    """Run a forward pass on INPUT.npy, streaming it in batches.

    A model with several inputs takes one file per input, in input order or
    as --input NAME=FILE.npy, or one .npz keyed by input name.
    """
    from .runner import run_model

    inputs = _run_inputs(input_paths, named_inputs)
    if weights is None and _left_at_default("seed"):
        _note_when_running(f"note: no --weights given: using random weights (seed {seed})")
    with _OutputDestination(output, ".npy") as destination:
        result = run_model(spec, inputs, weights=weights, seed=seed, output=destination,
                           batch_size=batch_size, dtype=dtype, max_memory=max_memory,
                           progress=_progress_bar(progress), allow_nonfinite=allow_nonfinite,
                           settings=_settings(variant, set_values), engine=engine)
    if output is None:
        import numpy as np

        several = len(result.outputs) > 1
        for name, array in result.outputs.items():
            label = f"output '{name}'" if several else "output"
            click.echo(f"# {label} shape {result.shapes[name]}, dtype {result.dtype}")
            with np.printoptions(threshold=1000):
                click.echo(str(array))
    else:
        shapes = ", ".join(f"{name} {shape}" for name, shape in result.shapes.items())
        what = f"shape {result.shape}" if len(result.shapes) == 1 else f"outputs {shapes}"
        click.echo(f"wrote {_output_name(output)}: {what}, dtype {result.dtype}", err=True)


def _run_inputs(paths: tuple, named: dict):
    """``run``'s inputs as ``run_model`` takes them: one path, a list, or a dict."""
    if paths and named:
        raise click.UsageError("give input files either in order or as --input NAME=FILE, not both")
    if named:
        return named
    if not paths:
        raise click.UsageError("missing input: give INPUT.npy (one per model input), --input NAME=FILE.npy, "
                               "or one .npz keyed by input name")
    return paths[0] if len(paths) == 1 else list(paths)


#: Runs of fewer batches finish too soon for a progress bar to help.
PROGRESS_MIN_BATCHES = 4


def _note_when_running(text: str) -> None:
    """Show ``text`` on stderr as the forward pass starts, once the spec,
    data and weights have passed their checks: not before an error that
    stops the run first."""
    click.get_current_context().meta.setdefault(_RUN_NOTES, []).append(text)


_RUN_NOTES = "layerspec.run_notes"


def _progress_bar(wanted: bool | None):
    """A factory for ``run_model``'s progress callback, which ``run_model``
    calls as the forward pass starts: the notes waiting for that moment
    (:func:`_note_when_running`) are shown then."""

    def start(rows: int, batches: int):
        context = click.get_current_context(silent=True)
        for note in context.meta.pop(_RUN_NOTES, []) if context is not None else ():
            _echo(note, err=True)
        shown = wanted if wanted is not None else (sys.stderr.isatty() and batches >= PROGRESS_MIN_BATCHES)
        if not shown:
            return None
        return _BarProgress(rows) if sys.stderr.isatty() else _LineProgress(rows)

    return start


class _RowProgress:
    """Counts rows and their rate; subclasses show them."""

    def __init__(self, rows: int):
        import time

        self._clock = time.monotonic
        self._start = self._clock()
        self.total = rows
        self.done = 0

    def rate(self) -> float:
        elapsed = self._clock() - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def __call__(self, rows: int) -> None:
        self.done += rows
        self.show()

    def show(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        pass


class _BarProgress(_RowProgress):
    """click's progress bar on a terminal: rows done, rows/s, time left."""

    def __init__(self, rows: int):
        super().__init__(rows)
        self._bar = click.progressbar(length=rows, label="rows", file=sys.stderr, show_pos=True, show_eta=True,
                                      item_show_func=lambda _: f"{self.rate():,.0f} rows/s" if self.done else "")
        self._bar.__enter__()

    def __call__(self, rows: int) -> None:
        self.done += rows
        self._bar.update(rows, current_item=self.done)

    def close(self) -> None:
        self._bar.__exit__(None, None, None)


class _LineProgress(_RowProgress):
    """Asked for without a terminal (a CI log): a line at most every second."""

    def __init__(self, rows: int):
        super().__init__(rows)
        self._last = None

    def show(self) -> None:
        now = self._clock()
        if self.done < self.total and self._last is not None and now - self._last < 1.0:
            return
        self._last = now
        rate = self.rate()
        left = f", {(self.total - self.done) / rate:.0f} s left" if rate and self.done < self.total else ""
        _echo(f"rows {self.done:,}/{self.total:,} ({100 * self.done // max(self.total, 1)}%), "
              f"{rate:,.0f} rows/s{left}", err=True)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=True),
              help="Weights .npz to write ('-' for standard output).")
@seed_option
@input_shape_option
@variant_option
@set_option
@plugin_option
def init(spec, output, seed, input_shape, variant, set_values):
    """Write freshly initialised weights to a .npz file."""
    from .runner import check_weights_fit
    from .spec import build_model, locate, read_spec

    with _OutputDestination(output, ".npz") as destination:
        spec_object = read_spec(spec, _settings(variant, set_values))
        model = build_model(spec_object, input_shape)
        check_weights_fit(model)  # before allocating them, with the figures, as `run` does
        try:
            model.init(seed=seed)
        except LayerspecError as error:
            raise locate(error, spec_object) from None
        model.save_weights(destination)
    click.echo(f"wrote {_output_name(output)}: {len(model.get_weights())} arrays, "
               f"{model.count_params():,} parameters", err=True)


#: The ``-o`` of ``run`` and ``init`` that means standard output (``./-``
#: names a file called ``-``).
STDOUT_OUTPUT = "-"


def _output_name(output: str) -> str:
    """How messages name an ``-o`` value."""
    return "standard output" if output == STDOUT_OUTPUT else output


class _OutputDestination:
    """``-o`` as the writers take it: the path, or for ``-`` standard output's
    binary stream, so that the .npy/.npz bytes and nothing else go there.

    Binary data is refused to a terminal, before any work, as it would only
    garble it. When the reader of standard output goes away midway (``| head
    -c 100``) the writer reports the broken pipe once (exit 1); stdout is then
    pointed at /dev/null so that Python's flush at exit adds no second,
    traceback-like complaint about it.
    """

    def __init__(self, output: str | None, kind: str):
        self.output = output
        self.kind = kind

    def __enter__(self):
        if self.output != STDOUT_OUTPUT:
            return self.output
        if sys.stdout.isatty():
            from .errors import DataError

            raise DataError(f"-o -: standard output is a terminal; redirect it to a file or a pipe to receive "
                            f"the {self.kind} data, or give -o a file name")
        sys.stdout.flush()  # text printed earlier must not come after the binary data
        return sys.stdout.buffer

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if self.output == STDOUT_OUTPUT and isinstance(exc, LayerspecError) \
                and isinstance(exc.__cause__, BrokenPipeError):
            _detach_stdout()
        return False


def _detach_stdout() -> None:
    """Point file descriptor 1 at /dev/null (Python's recipe for SIGPIPE-free exits)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (e.g. click's test runner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@input_shape_option
@click.option("--format", "output_format", type=click.Choice(["text", "github", "json"]), default="text",
              show_default=True, help="text: PATH:LINE:COL lines; github: workflow annotations; json: a list.")
@variant_option
@set_option
@plugin_option
def check(paths, input_shape, output_format, variant, set_values):
    """Validate specs (files, or directories of *.yaml/*.yml) for CI.

    Every problem found is reported (all bad keys and arguments; shape
    inference stops at the first layer that cannot be built), and each
    spec is held to its `expect` block. A spec with variants is checked
    with its default arguments and as each variant (unless --variant or
    --set picks one setting). Exit 0 when all pass, 1 otherwise.

    The findings are the result: they go to stdout, as a linter's do (ruff,
    mypy); stderr carries only what stops the check itself (a plugin that
    cannot load).
    """
    from .checker import check_paths, render_github, render_json, render_text

    reports = check_paths(paths, input_shape, _settings(variant, set_values))
    render = {"text": render_text, "github": render_github, "json": render_json}[output_format]
    _echo(render(reports))
    if any(report.failed for report in reports):
        sys.exit(1)


@main.command()
@click.argument("old", type=click.Path(dir_okay=True))
@click.argument("new", type=click.Path(dir_okay=True))
@input_shape_option
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="markdown suits a pull-request comment.")
@variant_option
@set_option
@click.option("--old-variant", metavar="NAME", help="The variant of OLD (default: --variant).")
@click.option("--new-variant", metavar="NAME", help="The variant of NEW (default: --variant).")
@diagram_option
@plugin_option
def diff(old, new, input_shape, output_format, variant, set_values, old_variant, new_variant, diagram):
    """Show layer by layer how shapes and parameters changed from OLD to NEW.

    Layers are aligned by name, then position. Two variants of one spec:
    `layerspec diff gpt2.yaml gpt2.yaml --old-variant small --new-variant
    large`. Exit 0 whether or not the models differ (1 only if a spec
    cannot be built).
    """
    from .diff import diff_summaries, render_diff_json, render_diff_markdown, render_diff_text
    from .spec import build_model, read_spec
    from .summary import summarize

    _require_markdown_for_diagram(diagram, output_format)
    old_settings = _settings(old_variant or variant, set_values)
    new_settings = _settings(new_variant or variant, set_values)
    old_summary = summarize(build_model(read_spec(old, old_settings), input_shape))
    new_summary = summarize(build_model(read_spec(new, new_settings), input_shape))
    changes = diff_summaries(old_summary, new_summary)
    if output_format == "json":
        _echo(render_diff_json(changes))
    elif output_format == "markdown":
        text = render_diff_markdown(changes, ascii_only=_ascii_only())
        if diagram:
            from .diagram_markdown import diff_diagram_markdown

            text = text.rstrip("\n") + "\n\n" + diff_diagram_markdown(old_summary, new_summary, changes)
        _echo(text)
    else:
        _echo(render_diff_text(changes, ascii_only=_ascii_only()))


@main.command("import")
@click.argument("model_file", metavar="MODEL.keras|CONFIG.json|MODEL.h5", type=click.Path(dir_okay=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=True), help="The spec (.yaml) to write.")
@click.option("--weights-out", type=click.Path(dir_okay=True),
              help="Also write the model's weights to this .npz, under layerspec's keys.")
@plugin_option
def import_command(model_file, output, weights_out):
    """Write a spec (and weights) from a Keras model: a Keras 3 .keras
    archive, a JSON config (model.to_json()), or a Keras 2 .h5 model.

    No Keras is needed; reading weights needs h5py
    (pip install 'layerspec-yaml[keras]').
    """
    from .interchange import import_model, write_import

    imported = import_model(model_file)
    write_import(imported, output, weights_out)
    model = imported.model
    click.echo(f"wrote {output}: {len(model.nodes)} layers, {model.count_params():,} parameters", err=True)
    if weights_out is not None:
        click.echo(f"wrote {weights_out}: {len(imported.weights)} arrays", err=True)
    elif imported.weights is not None:
        click.echo(f"note: {model_file} holds weights; give --weights-out W.npz to keep them", err=True)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--to", "target", type=click.Choice(["keras", "onnx"]), required=True, help="The format to write.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=True),
              help="Keras: MODEL.keras (config and weights) or CONFIG.json (the config alone). ONNX: MODEL.onnx "
                   "('-' for standard output).")
@click.option("--weights", type=click.Path(dir_okay=True),
              help="Weights .npz to put in the file (default: freshly initialised, --seed).")
# The range is onnx_builder's MIN_OPSET..MAX_OPSET (a test holds them
# equal), written out so the command line loads without NumPy.
@click.option("--opset", type=click.IntRange(13, 23), metavar="N",
              help="ONNX only: the opset to write (default: the lowest that expresses the model).")
@seed_option
@variant_option
@set_option
@plugin_option
def export(spec, target, output, weights, opset, seed, variant, set_values):
    """Write a spec as a Keras 3 model that keras.saving.load_model opens
    (or, to a .json file, the config that keras.models.model_from_json
    reads), or as an ONNX model for ONNX Runtime, TensorRT, OpenVINO and
    Triton (onnx: pip install 'layerspec-yaml[onnx]').
    """
    settings = _settings(variant, set_values)
    if target == "keras":
        if opset is not None:
            raise click.UsageError("--opset applies to --to onnx only")
        from .interchange import export_model

        with _OutputDestination(output, "Keras archive") as destination:
            model = export_model(spec, destination, weights=weights, seed=seed, settings=settings)
        click.echo(f"wrote {_output_name(output)}: {len(model.nodes)} layers, {model.count_params():,} parameters",
                   err=True)
        return
    from .interchange import export_onnx_file

    with _OutputDestination(output, "ONNX") as destination:
        model, export, files = export_onnx_file(spec, destination, weights=weights, seed=seed, opset=opset,
                                                settings=settings)
    from .onnx_export import describe_requirements

    raised = "".join(f"; {line}" for line in describe_requirements(export.requirements))
    click.echo(f"wrote {_output_name(files[0])}: {len(model.nodes)} layers, {model.count_params():,} parameters, "
               f"opset {export.opset}{raised}", err=True)
    for extra in files[1:]:
        click.echo(f"wrote {extra}: the weights (the model is over 1 GiB; keep the two files together)", err=True)


#: ``plot``'s formats, and the file extensions that choose each.
PLOT_FORMATS = {"svg": (".svg",), "dot": (".dot", ".gv"), "mermaid": (".mmd", ".mermaid")}
PLOT_FORMAT_NAMES = {"svg": "SVG", "dot": "Graphviz DOT", "mermaid": "Mermaid"}


@main.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("-o", "--output", type=click.Path(dir_okay=True),
              help="The file to write: .svg, .dot/.gv or .mmd ('-' or none: standard output; SVG unless --format).")
@click.option("--format", "output_format", type=click.Choice(list(PLOT_FORMATS)),
              help="svg (drawn by layerspec), dot (Graphviz) or mermaid (default: from -o's extension).")
@click.option("--depth", type=click.IntRange(min=0), metavar="N",
              help="Draw blocks N levels deep; deeper applications fold into one box (default: every level).")
@click.option("--direction", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Top to bottom, or left to right.")
@input_shape_option
@variant_option
@set_option
@plugin_option
def plot(spec, output, output_format, depth, direction, input_shape, variant, set_values):
    """Draw the model: a box per layer (name, type, output shape, params),
    edges labelled with shapes, blocks as frames.

    SVG is laid out and drawn by layerspec itself (no Graphviz needed); DOT
    is for Graphviz, Mermaid for Markdown that GitHub renders.
    """
    from .diagram import diagram_from_summary
    from .spec import build_model, read_spec
    from .summary import summarize

    if output == STDOUT_OUTPUT:
        output = None
    chosen = output_format or _plot_format_of(output)
    data = summarize(build_model(read_spec(spec, _settings(variant, set_values)), input_shape))
    diagram = diagram_from_summary(data, depth=depth)
    text = _render_plot(diagram, chosen, direction)
    if output is None:
        _echo(text)
        return
    from .arrays import open_output, refuse_overwriting_inputs

    refuse_overwriting_inputs(output, [spec])
    with open_output(output) as file:
        file.write(text.encode("utf-8"))
    click.echo(f"wrote {output}: {PLOT_FORMAT_NAMES[chosen]}, {len(diagram.boxes)} boxes, {len(diagram.edges)} edges",
               err=True)


def _plot_format_of(output: str | None) -> str:
    """The format an output file's extension names (SVG without a file)."""
    if output is None:
        return "svg"
    extension = os.path.splitext(output)[1].lower()
    for name, extensions in PLOT_FORMATS.items():
        if extension in extensions:
            return name
    raise click.UsageError(f"cannot tell the format from '{output}': give --format svg|dot|mermaid, or a file "
                           f"ending in .svg, .dot, .gv or .mmd")


def _render_plot(diagram, output_format: str, direction: str) -> str:
    if output_format == "svg":
        from .plot_layout import layout
        from .plot_svg import render_svg

        return render_svg(diagram, layout(diagram, direction=direction))
    from .plot_text import render_dot, render_mermaid

    render = render_dot if output_format == "dot" else render_mermaid
    return render(diagram, direction=direction)


@main.command()
@plugin_option
def schema():
    """Print the JSON Schema (draft 2020-12) of the spec format.

    Generated from the layer registry (plugins included), for editors with
    the YAML language server: save it and point `yaml.schemas` at it.
    """
    import json

    from .schema import spec_schema

    _echo(json.dumps(spec_schema(), indent=2))


@main.command()
@click.argument("names", nargs=-1)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@plugin_option
def layers(names, output_format):
    """List layer types and their arguments (plugins included).

    Give NAMES to show only those types.
    """
    from .catalog import catalog, render_catalog_json, render_catalog_text

    entries = catalog(names)
    _echo(render_catalog_json(entries) if output_format == "json" else render_catalog_text(entries))


if __name__ == "__main__":  # pragma: no cover
    main()
