"""The Python entry points: build a model from a spec file, text or dict."""

from __future__ import annotations

from .spec import build_model, loads_spec, parse_spec, read_spec


def load(source, input_shape=None):
    """Build the model described by a spec file path, or by a dict.

    Args:
        source: a path to a YAML spec, or a dict with the spec's keys.
        input_shape: per-sample input shape filling or replacing the
            spec's ``input`` where it is unknown.
    Returns:
        A :class:`layerspec.Sequential`, built if its input shape is known.
    """
    spec = parse_spec(source, "<dict>") if isinstance(source, dict) else read_spec(source)
    return build_model(spec, input_shape, require_input=False)


def loads(text: str, input_shape=None):
    """Build the model described by YAML ``text``."""
    return build_model(loads_spec(text), input_shape, require_input=False)
