"""Custom layers: the textbook SimpleDense via --plugin, LAYERSPEC_PLUGINS and entry points."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import layerspec
from layerspec.errors import LayerspecError
from layerspec.plugins import PluginError, load_plugin
from tests.conftest import REPO

PLUGIN = str(REPO / "examples" / "plugins" / "simple_dense.py")
SPEC = str(REPO / "examples" / "plugins" / "simple_dense.yaml")

pytestmark = pytest.mark.usefixtures("clean_registry")


def simple_dense_reference(x, weights, name, activation=None):
    y = x @ weights[f"{name}/W"] + weights[f"{name}/b"]
    return activation(y) if activation else y


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_textbook_layer_works_in_python_as_written():
    load_plugin(PLUGIN)
    from layerspec.registry import lookup

    SimpleDense = lookup("SimpleDense")
    model = layerspec.Sequential([SimpleDense(32, activation="relu"), SimpleDense(10, activation="softmax")])
    x = np.random.default_rng(0).standard_normal((4, 20)).astype(np.float32)
    out = model(x)
    weights = model.get_weights()
    assert sorted(weights) == ["simple_dense/W", "simple_dense/b", "simple_dense_1/W", "simple_dense_1/b"]
    hidden = np.maximum(simple_dense_reference(x, weights, "simple_dense"), 0)
    np.testing.assert_allclose(out, softmax(simple_dense_reference(hidden, weights, "simple_dense_1")), rtol=1e-5)
    assert out.dtype == np.float32
    # No compute_output_shape: shapes come from a probe run.
    assert model.shapes == [((None, 20), (None, 32)), ((None, 32), (None, 10))]


def test_probe_marks_sizes_that_follow_unknown_input_sizes():
    load_plugin(PLUGIN)
    model = layerspec.loads("input: [null, 6]\nlayers:\n  - {type: SimpleDense, units: 3}\n")
    assert model.output_shape == (None, None, 3)
    # The probe leaves no weight allocated.
    assert all(weight.value is None for _, weight in model.weight_items())


def test_plugin_option_summary_run_and_init(cli, tmp_path):
    result = cli("summary", "--plugin", PLUGIN, SPEC, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(layer["name"], layer["type"], layer["output_shape"], layer["params"]) for layer in data["layers"]] == [
        ("simple_dense", "SimpleDense", [None, 32], 784 * 32 + 32),
        ("simple_dense_1", "SimpleDense", [None, 10], 32 * 10 + 10)]
    x = np.random.default_rng(1).standard_normal((5, 784)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert cli("init", SPEC, "--plugin", PLUGIN, "-o", tmp_path / "w.npz").exit_code == 0
    result = cli("run", SPEC, tmp_path / "x.npy", "--plugin", PLUGIN, "--weights", tmp_path / "w.npz",
                 "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    with np.load(tmp_path / "w.npz") as stored:
        weights = dict(stored)
    hidden = np.maximum(simple_dense_reference(x, weights, "simple_dense"), 0)
    expected = softmax(simple_dense_reference(hidden, weights, "simple_dense_1"))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-7)


def test_custom_layer_argument_errors_point_into_the_spec(cli, write_spec):
    path = write_spec("input: [4]\nlayers:\n  - type: SimpleDense\n    unit: 3\n")
    result = cli("summary", "--plugin", PLUGIN, path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:3:5: error: layer 1 'simple_dense' (SimpleDense): missing required argument 'units'",
        f"{path}:4:5: error: layer 1 'simple_dense' (SimpleDense): unknown argument 'unit'; did you mean 'units'?",
    ]


def test_custom_layer_failing_at_build_is_a_placed_error(cli, write_spec):
    path = write_spec("input: [4]\nlayers:\n  - units: 2\n  - {type: SimpleDense, units: ten}\n")
    result = cli("summary", "--plugin", PLUGIN, path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:4:5: error: layer 2 'simple_dense' (SimpleDense): ")


def test_unknown_type_says_how_plugins_load(cli):
    result = cli("summary", SPEC)
    assert result.exit_code == 1
    assert ("unknown layer type 'SimpleDense'; did you mean 'SimpleRNN'? (custom layers load with --plugin "
            "FILE.py|MODULE, the LAYERSPEC_PLUGINS environment variable, or a package's 'layerspec.layers' "
            "entry point)") in result.stderr


def test_environment_variable_loads_plugins(cli, monkeypatch):
    from layerspec import plugins

    monkeypatch.setenv("LAYERSPEC_PLUGINS", os.pathsep.join(["", PLUGIN]))
    plugins._environment_loaded = False
    result = cli("summary", SPEC)
    assert result.exit_code == 0, result.stderr
    assert "simple_dense_1 (SimpleDense)" in result.stdout


def test_layers_command_lists_plugin_layers(cli):
    result = cli("layers", "--plugin", PLUGIN, "SimpleDense")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"SimpleDense [plugin {PLUGIN}]",
        "    units       any value; required",
        "    activation  any value; default null",
        "    name        a non-empty string; default null",
        "    trainable   true or false; default true",
    ]


def test_plugin_that_fails_to_import_is_named(cli, tmp_path, write_spec):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no GPU here')\n")
    result = cli("summary", "--plugin", broken, write_spec("input: [4]\nlayers:\n  - units: 2\n"))
    assert result.exit_code == 1
    assert result.stderr == f"error: plugin '{broken}' failed to import: RuntimeError: no GPU here\n"
    result = cli("summary", "--plugin", "no_such_module_xyz", SPEC)
    assert result.stderr == ("error: plugin 'no_such_module_xyz' failed to import: ModuleNotFoundError: "
                             "No module named 'no_such_module_xyz'\n")
    result = cli("summary", "--plugin", tmp_path / "missing.py", SPEC)
    assert result.exit_code == 1 and "no such file" in result.stderr


def test_plugin_taking_a_registered_name_is_named(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(textwrap.dedent("""
        import layerspec

        @layerspec.register
        class Dense(layerspec.Layer):
            def call(self, x):
                return x
    """))
    with pytest.raises(PluginError) as caught:
        load_plugin(str(clash))
    assert caught.value.message == f"plugin '{clash}': layer type 'Dense' is already taken by the built-in layer Dense"


def test_register_refuses_non_layers():
    with pytest.raises(LayerspecError, match="only subclasses of layerspec.Layer can be registered"):
        layerspec.register(int)


def test_layer_that_skips_super_init_is_a_clear_error(tmp_path, write_spec):
    plugin = tmp_path / "lazy.py"
    plugin.write_text(textwrap.dedent("""
        import layerspec

        @layerspec.register
        class Lazy(layerspec.Layer):
            def __init__(self, size):
                self.size = size

            def call(self, x):
                return x
    """))
    load_plugin(str(plugin))
    path = write_spec("input: [4]\nlayers:\n  - {type: Lazy, size: 3}\n")
    with pytest.raises(LayerspecError) as caught:
        layerspec.load(path)
    assert str(caught.value) == f"{path}:3:5: layer 1 'lazy' (Lazy): Lazy.__init__ must call super().__init__(**kwargs)"


def test_installed_package_entry_point(tmp_path):
    site = tmp_path / "site"
    package = site / "demo_layers"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text((REPO / "examples" / "plugins" / "simple_dense.py").read_text())
    info = site / "demo_layers-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-layers\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[layerspec.layers]\ndemo = demo_layers\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    env.pop("LAYERSPEC_PLUGINS", None)
    result = subprocess.run([sys.executable, "-m", "layerspec", "summary", SPEC, "--format", "json"],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_params"] == 25450
    listing = subprocess.run([sys.executable, "-m", "layerspec", "layers", "SimpleDense"], capture_output=True,
                             text=True, env=env, check=False)
    assert listing.stdout.splitlines()[0] == "SimpleDense [plugin demo_layers (entry point 'demo')]"


def run_layerspec(*args: str) -> subprocess.CompletedProcess:
    """A fresh process: built-ins not yet registered when the plugin loads, as for a user."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("LAYERSPEC_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "layerspec", *map(str, args)], capture_output=True, text=True,
                          env=env, check=False)


def test_layers_with_a_plugin_labels_only_the_plugin_layers_as_its_own():
    listing = run_layerspec("layers", "--plugin", PLUGIN, "--format", "json")
    assert listing.returncode == 0, listing.stderr
    origins = {entry["type"]: entry["origin"] for entry in json.loads(listing.stdout)}
    assert origins.pop("SimpleDense") == PLUGIN
    assert set(origins.values()) == {"built-in"} and "Dense" in origins
    text = run_layerspec("layers", "--plugin", PLUGIN).stdout.splitlines()
    assert [line for line in text if "[plugin" in line] == [f"SimpleDense [plugin {PLUGIN}]"]


def test_a_plugin_redefining_a_built_in_is_told_it_is_the_built_in(tmp_path):
    clash = tmp_path / "dup3.py"
    clash.write_text("import layerspec\n\n@layerspec.register\nclass Conv2D(layerspec.Layer):\n"
                     "    def call(self, x):\n        return x\n")
    result = run_layerspec("layers", "--plugin", clash)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"error: plugin '{clash}': layer type 'Conv2D' is already taken by the built-in "
                             "layer Conv2D\n")


def test_a_plugin_taking_another_plugins_name_names_that_plugin(tmp_path):
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text("import layerspec\n\n@layerspec.register\nclass Foo(layerspec.Layer):\n    pass\n")
    second.write_text("import layerspec\n\n@layerspec.register(name='foo')\nclass Bar(layerspec.Layer):\n    pass\n")
    result = run_layerspec("layers", "--plugin", first, "--plugin", second)
    assert result.stderr == f"error: plugin '{second}': layer type 'foo' is already taken by Foo from plugin '{first}'\n"
