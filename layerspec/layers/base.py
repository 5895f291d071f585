"""The ``Layer`` base class and the ``Weight`` it declares.

A layer holds state (weights) created lazily in ``build(input_shape)`` the
first time it sees an input, and computation in ``call(x)``. ``add_weight``
only *declares* a weight: its array exists once the weights are initialised
or loaded, so building a model of any size to infer shapes and count
parameters costs nothing.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..arguments import ArgumentKind, unknown_argument_message
from ..errors import ArgumentError, LayerspecError, ShapeError, ValueAtIndexError

Shape = tuple  # a full shape, batch axis first; unknown sizes are None


@functools.lru_cache(maxsize=None)
def snake_case(class_name: str) -> str:
    """Keras's automatic layer name for a class: ``MaxPooling2D`` → ``max_pooling2d``."""
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)  # Keras's to_snake_case, digits and all
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()


def format_shape(shape) -> str:
    """A shape as Keras prints it: ``(None, 28, 28, 1)``."""
    inner = ", ".join("None" if size is None else str(size) for size in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class Weight(NDArrayOperatorsMixin):
    """A declared weight: name, shape, initializer and trainability.

    ``value`` is ``None`` until the weight is initialised or loaded. Inside
    ``call`` a weight behaves as its array: ``x @ self.kernel + self.bias``
    works, as do ``np.*`` functions, indexing and ``.T``.
    """

    def __init__(self, name: str, shape: tuple, initializer: Any, trainable: bool, dtype: str):
        self.name = name
        self.shape = tuple(shape)
        self.initializer = initializer
        self.trainable = trainable
        self.dtype = np.dtype(dtype)
        self.value: np.ndarray | None = None
        #: Bumped whenever the weight gets a value, so forms prepared from it
        #: (a transposed kernel, say) know to refresh, even when the same
        #: array object was changed in place and assigned again.
        self.version = 0

    @property
    def size(self) -> int:
        """Number of scalars, as an exact Python integer (never overflows)."""
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def initialize(self, rng: np.random.Generator) -> None:
        """Create the array by drawing from the initializer.

        Raises:
            ArgumentError: if the initializer's arguments are so large that
                the values overflow the dtype (``stddev: 1e300`` in float32).
        """
        from .. import initializers

        initializer = initializers.get(self.initializer)
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, as an error
            value = initializer(self.shape, self.dtype, rng)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ArgumentError(f"the initializer of weight '{self.name}' gives values that do not fit "
                                f"{self.dtype.name}: {initializer.describe()}")
        self.value = value
        self.version += 1

    def assign(self, array: np.ndarray) -> None:
        """Set the array; its shape must be the declared one."""
        if tuple(array.shape) != self.shape:
            raise ShapeError(f"weight '{self.name}' has shape {self.shape}, got {tuple(array.shape)}")
        # asarray keeps a 0-d weight 0-d (ascontiguousarray would make it 1-d).
        self.value = np.asarray(array, dtype=self.dtype, order="C")
        self.version += 1

    def numpy(self) -> np.ndarray:
        """The weight's array; an error if it was never initialised or loaded."""
        if self.value is None:
            raise LayerspecError(f"weight '{self.name}' has no value yet: initialise or load the weights first")
        return self.value

    # Behaving as an array inside ``call``.
    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(x.numpy() if isinstance(x, Weight) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __getitem__(self, index):
        return self.numpy()[index]

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def T(self) -> np.ndarray:
        return self.numpy().T

    def __repr__(self) -> str:
        state = "unset" if self.value is None else "set"
        return f"<Weight {self.name} shape={self.shape} {state}>"


def evaluated_signature(function) -> inspect.Signature:
    """The signature with string annotations evaluated where possible.

    Modules written with ``from __future__ import annotations`` keep
    annotations as strings; argument kinds must be real objects. A checked
    ``__init__`` caches its own.
    """
    cached = getattr(function, "signature", None)
    if callable(cached):
        return cached()
    try:
        return inspect.signature(function, eval_str=True)
    except Exception:  # an annotation that cannot be evaluated: keep strings
        return inspect.signature(function)


def _checked_init(init):
    """Wrap a layer's ``__init__`` so annotated arguments are checked first.

    Arguments annotated with an :class:`ArgumentKind` are validated and
    normalised (``3`` → ``(3, 3)`` for a kernel size); a wrong argument name
    or a missing one becomes an :class:`ArgumentError` instead of a
    ``TypeError``.
    """

    @functools.lru_cache(maxsize=None)
    def signature_and_kinds():
        # Evaluated on first use, not at import: start-up stays fast.
        signature = evaluated_signature(init)
        kinds = {name: parameter.annotation for name, parameter in signature.parameters.items()
                 if isinstance(parameter.annotation, ArgumentKind)}
        return signature, kinds

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        signature, kinds = signature_and_kinds()
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as error:
            raise ArgumentError(_explain_bind_error(error, signature)) from None
        for name, kind in kinds.items():
            if name in bound.arguments:
                bound.arguments[name] = kind.check(bound.arguments[name], name)
        init(*bound.args, **bound.kwargs)
        # Recorded after ``init`` returns, so when a subclass's __init__
        # calls its parent's (both checked), the outermost call — the one
        # the user wrote — is the one kept.
        self._constructor_arguments = _arguments_as_given(bound, kinds)

    checked.signature = lambda: signature_and_kinds()[0]
    return checked


def _arguments_as_given(bound: inspect.BoundArguments, kinds: dict[str, ArgumentKind]) -> dict[str, Any]:
    """Every argument of a checked call by name, ``**kwargs`` spread.

    Defaults are included and normalised like given values, so that
    ``strides: 1`` written out and ``strides`` left out record the same
    ``(1, 1)``.
    """
    given = set(bound.arguments)
    bound.apply_defaults()
    parameters = bound.signature.parameters
    arguments: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:  # [0] is self
        kind = parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            arguments[name] = value if name in given else normalised_default(kinds.get(name), name, value)
    return arguments


def normalised_default(kind: ArgumentKind | None, name: str, value: Any) -> Any:
    if kind is None:
        return value
    try:
        return kind.check(value, name)
    except LayerspecError:  # a default outside its own kind (None for "not given"): keep it as written
        return value


def _explain_bind_error(error: TypeError, signature: inspect.Signature) -> str:
    text = str(error)
    missing = re.search(r"missing a required argument: '(\w+)'", text)
    if missing:
        return f"missing required argument '{missing.group(1)}'"
    unexpected = re.search(r"got an unexpected keyword argument '(\w+)'", text)
    if unexpected:
        return unknown_argument_message(unexpected.group(1), signature.parameters)
    return text


class Layer:
    """Base class of every layer, built-in or written by a user.

    Subclasses declare weights in ``build(input_shape)`` with
    :meth:`add_weight` and compute in ``call(x)``. ``compute_output_shape``
    is optional but makes shape inference free; without it, shape inference
    calls the layer once on a small zero batch.

    Args:
        name: unique name in its model; default: the Keras-style snake_case
            class name, numbered per model (``dense``, ``dense_1``, ...).
        trainable: whether the layer's weights count as trainable.
    """

    #: What the layer's input holds: "float" or "int" (indices).
    input_kind = "float"

    #: True for layers that take a list of inputs (merges, attention): their
    #: ``build``, ``compute_output_shape`` and ``count_*`` get a list of
    #: shapes and ``call`` a list of arrays, as Keras's merge layers do.
    takes_several_inputs = False
    #: For such a layer: whether it may also be fed one input alone (the
    #: layer above, in a stack), as self-attention may; merges may not.
    accepts_single_input = False

    #: The names of a layer's outputs when it has several (an LSTM with
    #: ``return_state``: ``["output", "state_h", "state_c"]``), else None.
    #: Such a layer's ``compute_output_shape`` returns a list of shapes and
    #: its ``call`` a list of arrays, in this order; a spec refers to one as
    #: ``lstm.state_h`` (the bare name means the first).
    output_names = None

    #: False for layers that only move or copy data (reshaping, padding,
    #: dropout at inference): they cost no multiply-accumulates. A layer that
    #: computes defines ``count_macs``; one that does neither (a user layer,
    #: say) has an unknown cost rather than a wrong zero.
    has_macs = True

    #: Whether a mask on the input passes on to the output (Keras's
    #: ``supports_masking``). A layer that does not support masking drops a
    #: mask it receives (Keras warns; the summary notes it). See
    #: ``compute_mask_shape`` and ``compute_mask``.
    supports_masking = False
    #: Whether ``call`` needs the input's mask: such a layer implements
    #: ``call_masked(inputs, mask)``, which the forward pass calls instead of
    #: ``call`` when a mask arrives (an RNN skipping padded steps).
    uses_mask = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _checked_init(cls.__dict__["__init__"])

    def __init__(self, name: str | None = None, trainable: bool = True, **kwargs):
        if kwargs:
            unknown = next(iter(kwargs))
            accepted = list(inspect.signature(type(self).__init__).parameters) + ["name", "trainable"]
            raise ArgumentError(unknown_argument_message(unknown, accepted), argument=unknown)
        if name is not None and (not isinstance(name, str) or not name):
            raise ArgumentError("argument 'name' must be a non-empty string", argument="name")
        if not isinstance(trainable, bool):
            raise ArgumentError("argument 'trainable' must be true or false", argument="trainable")
        self._name = name
        self._auto_name: str | None = None
        self.trainable = trainable
        #: What ``get_config`` reports; a checked ``__init__`` fills it in.
        self._constructor_arguments: dict[str, Any] = {}
        # The model sets the compute dtype (the spec's) before building.
        self.dtype = "float32"
        self.built = False
        self.input_shape: Shape | None = None
        self._weights: list[Weight] = []

    # -- identity ---------------------------------------------------------
    @property
    def name(self) -> str:
        """The layer's name (a model gives unnamed layers numbered names)."""
        return self._name or self._auto_name or snake_case(type(self).__name__)

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def has_explicit_name(self) -> bool:
        return self._name is not None

    def get_config(self) -> dict[str, Any]:
        """The arguments the layer was constructed with, as Keras's ``get_config``.

        Returns:
            ``name`` (the layer's current name, automatic or given) and
            ``trainable``, then the layer's own constructor arguments in
            signature order, defaults included, each as its argument check
            normalised it (``kernel_size: 3`` → ``(3, 3)``). Recorded once,
            for every layer, by the base class: ``type(layer)(**config)``
            makes the same layer again.
        """
        own = {name: value for name, value in self._constructor_arguments.items()
               if name not in ("name", "trainable")}
        return {"name": self.name, "trainable": self.trainable, **own}

    # -- weights ----------------------------------------------------------
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, name=None) -> Weight:
        """Declare a weight; no array is allocated.

        Args:
            shape: the weight's shape; every size must be known.
            initializer: an initializer name (``"glorot_uniform"`` by
                default) or object.
            dtype: defaults to the layer's dtype.
            trainable: whether the weight is trained (counts as trainable).
            name: the weight's name in weights files (``LAYER/NAME``).
        Returns:
            The :class:`Weight`; inside ``call`` it acts as its array.
        """
        shape = tuple(() if shape is None else shape)
        name = name or f"weight_{len(self._weights)}"
        if any(size is None for size in shape):
            raise ShapeError(f"weight '{name}' needs known sizes, got shape {format_shape(shape)}")
        if any(isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0 for size in shape):
            raise ShapeError(f"weight '{name}' has an invalid shape {shape}")
        if any(weight.name == name for weight in self._weights):
            raise ArgumentError(f"layer '{self.name}' declares weight '{name}' twice")
        weight = Weight(name, tuple(int(s) for s in shape), initializer or "glorot_uniform",
                        trainable, dtype or self.dtype)
        self._weights.append(weight)
        return weight

    @property
    def weights(self) -> list[Weight]:
        """Every declared weight, in declaration order."""
        return list(self._weights)

    @property
    def trainable_weights(self) -> list[Weight]:
        """Weights that training would update (none if the layer is frozen)."""
        return [weight for weight in self._weights if weight.trainable and self.trainable]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        """Weights training leaves alone (moving statistics, frozen layers)."""
        return [weight for weight in self._weights if not (weight.trainable and self.trainable)]

    def _own_sublayer(self, prefix: str, layer: "Layer") -> None:
        """Adopt a built sublayer's declared weights as this layer's, named ``prefix/WEIGHT``.

        For a layer made of layers (Bidirectional's forward and backward
        RNNs): the sublayer keeps computing with the same :class:`Weight`
        objects, and weights files key them ``LAYER/prefix/WEIGHT``
        (``bidirectional/forward_lstm/kernel``).
        """
        for weight in layer._weights:
            name = f"{prefix}/{weight.name}"
            if any(own.name == name for own in self._weights):
                raise ArgumentError(f"layer '{self.name}' declares weight '{name}' twice")
            weight.name = name
            self._weights.append(weight)

    def count_params(self) -> int:
        """Total number of scalars in the layer's weights (exact)."""
        return sum(weight.size for weight in self._weights)

    def weight_problem(self, values: dict[str, np.ndarray]) -> tuple[str, str] | None:
        """Why this layer cannot compute with these weight values, if it cannot.

        Args:
            values: every weight's candidate array, by weight name.

        Returns:
            ``(weight name, reason)`` (a BatchNormalization's negative moving
            variance, say), or None when the values are usable. The model
            asks before it accepts loaded weights and after it initialises
            them, so the error names the file's key or the initializer.
        """
        return None

    # -- building and shapes ----------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Declare weights for ``input_shape`` (batch axis first). Optional."""

    def build_for(self, input_shape: Shape) -> None:
        """Build once, for the first input shape the layer sees."""
        if self.built:
            return
        if isinstance(input_shape, list):  # several inputs: a list of shapes, as Keras passes them
            self.input_shape = [tuple(shape) for shape in input_shape]
        else:
            self.input_shape = tuple(input_shape)
        self.build(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Output shape for ``input_shape`` (both with the batch axis first).

        Optional for user layers: without it, shape inference runs the layer
        once on a small zero batch.
        """
        raise NotImplementedError

    def count_macs(self, input_shape: Shape) -> int | None:
        """Multiply-accumulates per sample; ``None`` if not known."""
        return None if self.has_macs else 0

    def count_workspace(self, input_shape: Shape) -> int:
        """Scratch elements per sample the forward pass needs beyond its input
        and output (a convolution's window matrix, say). Guides ``run``'s
        automatic batch size; default none."""
        return 0

    def count_elementwise(self, input_shape: Shape) -> int | None:
        """Elementwise operations per sample besides the MACs: bias adds,
        activations (one each per element), divisions. Default: none."""
        return 0

    def count_flops(self, input_shape: Shape) -> int | None:
        """Floating-point operations per sample: 2 × MACs + elementwise work."""
        macs, elementwise = self.count_macs(input_shape), self.count_elementwise(input_shape)
        return None if macs is None or elementwise is None else 2 * macs + elementwise

    # -- masks ------------------------------------------------------------
    # A mask is a boolean array, batch axis first, True where a step counts
    # (Keras's convention): an Embedding with ``mask_zero`` makes one of shape
    # (batch, steps). Masks exist only where a layer makes one, so a model
    # without such layers never computes any.
    def compute_mask_shape(self, input_shape: Shape, mask_shape):
        """The output's mask shape, or None for no mask, given the input's
        (``mask_shape`` None: the input has none; a list for a layer taking
        several inputs). A list for a layer with several outputs.

        Default, as Keras's: a layer that supports masking passes on its
        (first) input's mask; any other drops it.

        Raises:
            ShapeError: if the layer cannot take the mask (it would not
                broadcast over the input, say).
        """
        if not self.supports_masking:
            return None
        return _first_if_list(mask_shape)

    def compute_mask(self, inputs, mask):
        """The output's mask for ``inputs`` (one array, or a list), given the
        input's ``mask`` (an array, None, or a list of them); must agree with
        :meth:`compute_mask_shape`."""
        if not self.supports_masking:
            return None
        return _first_if_list(mask)

    def call_masked(self, inputs, mask):
        """``call`` with the input's mask (see :attr:`uses_mask`)."""
        return self.call(inputs)

    # -- computing --------------------------------------------------------
    def call(self, inputs: np.ndarray) -> np.ndarray:
        """The computation. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement call()")

    def fused_with(self, following: "Layer"):
        """A function computing ``following.call(self.call(x))`` faster, or None.

        The forward pass uses it where ``following`` alone reads this
        layer's result (a convolution and the pooling after it run
        chunk by chunk without the convolution's whole output). It must give
        the same values, to float rounding, and raise the same errors as
        the two calls.
        """
        return None

    def __call__(self, inputs):
        """Apply the layer: to arrays, computing now (building and drawing
        random weights on first use); to symbolic tensors from
        :func:`layerspec.Input`, recording the application for a
        :class:`layerspec.Model`, as in Keras's functional API."""
        from ..functional import apply_symbolically, is_symbolic

        if is_symbolic(inputs):
            return apply_symbolically(self, inputs)
        if self.takes_several_inputs and isinstance(inputs, (list, tuple)):
            inputs = [np.asarray(item) for item in inputs]
            shape = [(None,) + tuple(item.shape[1:]) for item in inputs]
        else:
            inputs = np.asarray(inputs)
            shape = (None,) + tuple(inputs.shape[1:])
        if not self.built:
            self.build_for(shape)
        for weight in self._weights:
            if weight.value is None:
                weight.initialize(np.random.default_rng())
        return self.call(inputs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def refuse_ids_outside(ids: np.ndarray, limit: int, owner: str, noun: str) -> None:
    """Raise ValueAtIndexError for the first of ``ids`` outside ``[0,
    limit)`` ("Embedding 'embedding': index -3 at index (0, 2) is outside
    [0, 10000)"); nothing when all are inside."""
    # Two reductions are cheap; locating the culprit is only needed on failure.
    if ids.size == 0 or (ids.min() >= 0 and ids.max() < limit):
        return
    outside = (ids < 0) | (ids >= limit)
    position = tuple(int(i) for i in np.unravel_index(int(np.argmax(outside)), ids.shape))
    raise ValueAtIndexError(owner, f"{noun} {int(ids[position])}", position, f" is outside [0, {limit})")


def _first_if_list(mask):
    """The first input's mask when a layer takes several inputs (Keras passes
    a layer the mask of its first argument)."""
    return mask[0] if isinstance(mask, list) else mask
