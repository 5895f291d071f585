"""The LayerspecError family.

Every problem layerspec reports to a user is one of these. Each carries a
short stable ``code`` (used by ``layerspec check`` output) and, where it is
known, the source ``position`` the problem points at, so the CLI can print
``PATH:LINE:COL: error: MESSAGE``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    """A place in a file: 1-based line and column, as editors count them."""

    path: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.path
        return f"{self.path}:{self.line}:{self.col}"


class LayerspecError(Exception):
    """Base class of every error layerspec reports to its user.

    Args:
        message: what went wrong, in one sentence a user can act on.
        position: where in which file, if known.
        code: a short stable identifier of the kind of problem.
    """

    code = "error"

    def __init__(self, message: str, position: Position | None = None, code: str | None = None,
                 argument: str | None = None, layer_index: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position
        if code is not None:
            self.code = code
        #: The layer argument at fault, so a spec reader can point at it.
        self.argument = argument
        #: The 0-based index of the layer at fault in its model.
        self.layer_index = layer_index

    def at(self, position: Position | None) -> "LayerspecError":
        """Attach a position unless a more precise one is already known."""
        if self.position is None:
            self.position = position
        return self

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.position}: {self.message}"


class SpecError(LayerspecError):
    """A spec file cannot be read, or its structure is wrong."""

    code = "invalid-spec"


class YamlError(SpecError):
    """The file is not YAML that layerspec accepts (syntax, tags, aliases...)."""

    code = "yaml-syntax"


class ArgumentError(LayerspecError):
    """A layer argument has the wrong type or value."""

    code = "invalid-argument"

    def __init__(self, message: str, argument: str | None = None, **kwargs):
        super().__init__(message, argument=argument, **kwargs)


class ShapeError(LayerspecError):
    """Shapes do not fit: a layer cannot take the input it is given."""

    code = "shape-mismatch"


class DataError(LayerspecError):
    """An input array file is unreadable or does not fit the model."""

    code = "invalid-data"


class WeightsError(LayerspecError):
    """A weights file is unreadable, incomplete or of the wrong shapes."""

    code = "invalid-weights"


class SpecErrors(LayerspecError):
    """Several problems found in one spec, reported together."""

    code = "invalid-spec"

    def __init__(self, errors: list[LayerspecError]):
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = list(errors)

    def __iter__(self):
        return iter(self.errors)


def flatten(error: LayerspecError) -> list[LayerspecError]:
    """The individual problems inside ``error`` (itself if it is single)."""
    return list(error.errors) if isinstance(error, SpecErrors) else [error]


class ValueAtIndexError(DataError):
    """A bad value at an index of an input array (NaN, inexact, too large,
    an Embedding index outside its vocabulary).

    ``index`` counts from the start of the array checked; a model running in
    batches uses :meth:`shifted` to report it within the whole input.
    """

    def __init__(self, source: str, problem: str, index: tuple, advice: str = ""):
        self.source, self.problem, self.index, self.advice = source, problem, tuple(index), advice
        super().__init__(f"{source}: {problem} at index {self.index}{advice}")

    def shifted(self, rows: int) -> "ValueAtIndexError":
        """The same error with the row moved down by ``rows``."""
        return ValueAtIndexError(self.source, self.problem, (self.index[0] + rows,) + self.index[1:], self.advice)
