"""``layerspec run --engine onnxruntime``: the forward pass in ONNX Runtime.

The model is exported in memory (:func:`layerspec.onnx_export.export_onnx`,
checks included) and loaded into an ONNX Runtime session on the CPU. The
session then stands in for the layers (:attr:`Model.engine`), so ``run``
streams the input in batches, converts and checks it, and writes the output
exactly as it does with NumPy: only the arithmetic moves.
"""

from __future__ import annotations

import numpy as np

from .errors import LayerspecError

#: The extra that brings ONNX Runtime (and onnx, to export).
ONNXRUNTIME_HINT = "pip install 'layerspec-yaml[onnxruntime]'"

#: The engines ``run`` offers.
ENGINES = ("numpy", "onnxruntime")


def import_onnxruntime():
    """The ``onnxruntime`` package, or the error naming the extra."""
    try:
        import onnxruntime
    except ImportError:
        raise LayerspecError(f"--engine onnxruntime needs ONNX Runtime: {ONNXRUNTIME_HINT}",
                             code="missing-dependency") from None
    return onnxruntime


class OnnxRuntimeEngine:
    """A model's forward pass in an ONNX Runtime session.

    Called with one batch per model input (in input order), it returns the
    list of outputs in output order, as the layers' walk does.

    Args:
        model: a built model with its weights set.
        threads: ONNX Runtime's intra-op threads (default: its own choice,
            one per physical core).
    """

    def __init__(self, model, threads: int | None = None):
        onnxruntime = import_onnxruntime()
        from .onnx_export import export_onnx, import_onnx

        import_onnx("--engine onnxruntime")
        self.export = export_onnx(model)
        options = onnxruntime.SessionOptions()
        # Errors only as exceptions (which name the node): ONNX Runtime's log
        # would print them a second time, and its warnings are about its own
        # graph rewrites.
        options.log_severity_level = 4
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(self.export.model.SerializeToString(), options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own classes, one per failure kind
            raise LayerspecError(f"ONNX Runtime cannot run the exported model: {_first_line(error)}") from None
        self.input_names = [item.name for item in self.session.get_inputs()]
        self._id_checks = _id_checks(model)

    def __call__(self, batches: list) -> list:
        # ONNX's Gather reads a negative id from the end of the table: ids
        # are checked here, as layerspec's Embedding checks them.
        for number, check in self._id_checks:
            check(batches[number])
        feed = {name: np.ascontiguousarray(batch) for name, batch in zip(self.input_names, batches)}
        return self.session.run(None, feed)


def _id_checks(model) -> list:
    """``(input number, check)`` for each layer reading ids straight from a
    model input (an Embedding, a CategoryEncoding)."""
    checks = []
    for number, readers in enumerate(model.graph.consumers()[:len(model.graph.inputs)]):
        checks += [(number, node.layer.check_ids) for node in readers if hasattr(node.layer, "check_ids")]
    return checks


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
