"""The graph examples in specs/: a ResNet, a U-Net, a two-tower model with two
inputs and two outputs, and a Siamese network with a shared encoder.

Their parameter counts are derived here by hand, layer by layer, with Keras's
formulas; the ResNet's, U-Net's, two-tower's and Siamese network's outputs
are checked against NumPy references written below from the layers' formulas
(not from layerspec's layers), with the weights the model holds.
"""

import json
import math

import numpy as np
import pytest

import layerspec
from layerspec.runner import run_model
from layerspec.spec import read_spec
from tests.conftest import SPECS

RESNET = SPECS / "resnet_small.yaml"
UNET = SPECS / "unet_small.yaml"
TWO_TOWER = SPECS / "two_tower.yaml"
SIAMESE = SPECS / "siamese.yaml"
GRAPH_EXAMPLES = [RESNET, UNET, TWO_TOWER, SIAMESE]
#: float32 against a float64 reference (docs/design.md §5's tolerance).
RTOL, ATOL = 2e-4, 2e-5


# -- parameter counts by hand -------------------------------------------------
def conv2d_params(kernel: int, channels_in: int, filters: int) -> int:
    return kernel * kernel * channels_in * filters + filters


def batch_norm_params(channels: int) -> int:
    return 4 * channels  # gamma, beta (trainable); moving mean and variance (not)


def dense_params(units_in: int, units: int) -> int:
    return units_in * units + units


def resnet_small_params() -> int:
    stem = conv2d_params(3, 3, 16) + batch_norm_params(16)
    identity_block = 2 * (conv2d_params(3, 16, 16) + batch_norm_params(16))

    def projection_block(channels_in, channels):
        return (conv2d_params(3, channels_in, channels) + batch_norm_params(channels)
                + conv2d_params(3, channels, channels) + batch_norm_params(channels)
                + conv2d_params(1, channels_in, channels) + batch_norm_params(channels))

    blocks = identity_block + projection_block(16, 32) + projection_block(32, 64) + projection_block(64, 64)
    return stem + blocks + dense_params(64, 10)


def unet_small_params() -> int:
    down = conv2d_params(3, 1, 8) + conv2d_params(3, 8, 8) + conv2d_params(3, 8, 16) + conv2d_params(3, 16, 16)
    bottom = conv2d_params(3, 16, 32) + conv2d_params(3, 32, 32)
    # Each up level's first convolution reads the upsampled map and the skip, concatenated.
    up = (conv2d_params(3, 32 + 16, 16) + conv2d_params(3, 16, 16)
          + conv2d_params(3, 16 + 8, 8) + conv2d_params(3, 8, 8))
    return down + bottom + up + conv2d_params(1, 8, 1)


def two_tower_params() -> int:
    image = conv2d_params(3, 3, 16) + conv2d_params(3, 16, 32)  # pooling has no weights
    meta = dense_params(8, 16)
    joint = dense_params(32 + 16, 64)
    return image + meta + joint + dense_params(64, 5) + dense_params(64, 1)


def siamese_params() -> int:
    # The encoder's second application shares its weights: counted once.
    return dense_params(32, 64) + dense_params(64, 16) + dense_params(1, 1)


HAND_COUNTS = {RESNET: resnet_small_params(), UNET: unet_small_params(), TWO_TOWER: two_tower_params(),
               SIAMESE: siamese_params()}


def test_hand_counts_are_the_figures_worked_out():
    assert HAND_COUNTS == {RESNET: 157834, UNET: 29617, TWO_TOWER: 8758, SIAMESE: 3154}


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda path: path.stem)
def test_expect_holds_the_hand_counted_parameters(path):
    spec = read_spec(str(path))
    assert spec.expect["params"] == HAND_COUNTS[path]


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda path: path.stem)
def test_summary_counts_the_hand_counted_parameters(cli, path):
    data = json.loads(cli("summary", path, "--format", "json").stdout)
    assert data["total_params"] == HAND_COUNTS[path]


def test_expected_output_shapes():
    expected = {RESNET: {"output_shape": [10]}, UNET: {"output_shape": [64, 64, 1]},
                TWO_TOWER: {"output_shapes": {"class": [5], "score": [1]}}, SIAMESE: {"output_shape": [1]}}
    for path, shapes in expected.items():
        expect = read_spec(str(path)).expect
        assert {key: expect[key] for key in shapes} == shapes, path.name


def test_check_passes_for_the_graph_examples(cli):
    result = cli("check", *GRAPH_EXAMPLES)
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip() == "4 specs checked, 0 failed, 0 errors"


# -- summarise, init and run ---------------------------------------------------
def sample_inputs(path, rows=3, seed=0) -> dict:
    model = layerspec.load(str(path))
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((rows,) + shape).astype(np.float32)
            for name, shape in zip(model.input_names, model.input_shapes)}


def one_or_dict(inputs: dict):
    return next(iter(inputs.values())) if len(inputs) == 1 else inputs


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda path: path.stem)
@pytest.mark.parametrize("output_format", ["table", "markdown", "json"])
def test_summarises(cli, path, output_format):
    result = cli("summary", path, "--format", output_format, "--batch-size", "4")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "InputLayer" in result.stdout or output_format == "json"


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda path: path.stem)
def test_init_writes_the_models_weights_once_per_layer(cli, path, tmp_path):
    result = cli("init", path, "-o", tmp_path / "w.npz")
    assert result.exit_code == 0, result.stderr
    model = layerspec.load(str(path)).init(seed=0)
    expected = model.get_weights()
    with np.load(tmp_path / "w.npz") as written:
        assert written.files == list(expected)
        for key, array in expected.items():
            np.testing.assert_array_equal(written[key], array, err_msg=key)
    assert sum(array.size for array in expected.values()) == HAND_COUNTS[path]


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda path: path.stem)
def test_run_from_the_cli_equals_the_python_api(cli, path, tmp_path):
    inputs = sample_inputs(path)
    np.savez(tmp_path / "x.npz", **inputs)
    assert cli("init", path, "-o", tmp_path / "w.npz", "--seed", "3").exit_code == 0
    model = layerspec.load(str(path))
    suffix = ".npz" if len(model.output_names) > 1 else ".npy"
    result = cli("run", path, tmp_path / "x.npz", "--weights", tmp_path / "w.npz", "-o", tmp_path / f"y{suffix}")
    assert result.exit_code == 0, result.stderr
    model.load_weights(tmp_path / "w.npz")
    expected = model.predict(one_or_dict(inputs))
    if suffix == ".npz":
        with np.load(tmp_path / "y.npz") as written:
            assert written.files == model.output_names
            for name, array in zip(model.output_names, expected):
                np.testing.assert_allclose(written[name], array, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("path", GRAPH_EXAMPLES, ids=lambda path: path.stem)
def test_run_model_in_python_equals_predict(path, tmp_path):
    inputs = sample_inputs(path)
    files = {}
    for name, array in inputs.items():
        np.save(tmp_path / f"{name}.npy", array)
        files[name] = str(tmp_path / f"{name}.npy")
    result = run_model(str(path), files if len(files) > 1 else files[next(iter(files))], seed=5)
    model = layerspec.load(str(path)).init(seed=5)
    expected = model.predict(one_or_dict(inputs))
    expected = expected if len(model.output_names) > 1 else [expected]
    assert list(result.outputs) == model.output_names
    for array, want in zip(result.outputs.values(), expected):
        np.testing.assert_allclose(array, want, rtol=1e-6, atol=1e-7)


# -- NumPy references, from the layers' formulas -------------------------------
def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras's 'same': the extra cell of an odd total goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, bias, strides=1, padding="same"):
    """out[n, y, x, o] = sum over i, j, c of x[n, s*y + i, s*x + j, c] * kernel[i, j, c, o] + bias[o]."""
    kh, kw, _, filters = kernel.shape
    if padding == "same":
        x = np.pad(x, ((0, 0), same_padding(x.shape[1], kh, strides), same_padding(x.shape[2], kw, strides), (0, 0)))
    out_h, out_w = (x.shape[1] - kh) // strides + 1, (x.shape[2] - kw) // strides + 1
    out = np.zeros((len(x), out_h, out_w, filters))
    for i in range(kh):
        for j in range(kw):
            taps = x[:, i:i + strides * (out_h - 1) + 1:strides, j:j + strides * (out_w - 1) + 1:strides, :]
            out += taps @ kernel[i, j]
    return out + bias


def batch_norm(x, weights, name):
    w = {key: weights[f"{name}/{key}"] for key in ("gamma", "beta", "moving_mean", "moving_variance")}
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-3) * w["gamma"] + w["beta"]


def relu(x):
    return np.maximum(x, 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def max_pool_2x2(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def upsample_2x2(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)


def dense(x, weights, name):
    return x @ weights[f"{name}/kernel"] + weights[f"{name}/bias"]


def resnet_small_reference(x, w):
    def conv_bn(x, conv, bn, strides=1, padding="same"):
        return batch_norm(conv2d(x, w[f"{conv}/kernel"], w[f"{conv}/bias"], strides, padding), w, bn)

    stem = relu(conv_bn(x, "conv2d", "batch_normalization"))
    hidden = relu(conv_bn(stem, "conv2d_1", "batch_normalization_1"))
    block = relu(conv_bn(hidden, "conv2d_2", "batch_normalization_2") + stem)
    # Keras numbers the unnamed layers of each type; the named BNs take no number.
    projection_blocks = [(("conv2d_3", "batch_normalization_3"), ("conv2d_4", "block2_main"),
                          ("conv2d_5", "batch_normalization_4")),
                         (("conv2d_6", "batch_normalization_5"), ("conv2d_7", "block3_main"),
                          ("conv2d_8", "batch_normalization_6")),
                         (("conv2d_9", "batch_normalization_7"), ("conv2d_10", "block4_main"),
                          ("conv2d_11", "batch_normalization_8"))]
    for first, second, shortcut in projection_blocks:
        main = conv_bn(relu(conv_bn(block, *first, strides=2)), *second)
        block = relu(main + conv_bn(block, *shortcut, strides=2, padding="valid"))
    return softmax(dense(block.mean(axis=(1, 2)), w, "dense"))


def unet_small_reference(x, w):
    def conv(x, name):
        return relu(conv2d(x, w[f"{name}/kernel"], w[f"{name}/bias"]))

    down1 = conv(conv(x, "conv2d"), "down1")
    down2 = conv(conv(max_pool_2x2(down1), "conv2d_1"), "down2")
    bottom = conv(conv(max_pool_2x2(down2), "conv2d_2"), "bottom")
    up2 = conv(conv(np.concatenate([upsample_2x2(bottom), down2], axis=-1), "conv2d_3"), "conv2d_4")
    up1 = conv(conv(np.concatenate([upsample_2x2(up2), down1], axis=-1), "conv2d_5"), "conv2d_6")
    return sigmoid(conv2d(up1, w["mask/kernel"], w["mask/bias"], padding="valid"))


def two_tower_reference(image, meta, w):
    pictures = relu(conv2d(image, w["conv2d/kernel"], w["conv2d/bias"]))
    pictures = relu(conv2d(max_pool_2x2(pictures), w["conv2d_1/kernel"], w["conv2d_1/bias"]))
    joint = np.concatenate([pictures.mean(axis=(1, 2)), relu(dense(meta, w, "meta_features"))], axis=-1)
    joint = relu(dense(joint, w, "joint"))
    return softmax(dense(joint, w, "class")), dense(joint, w, "score")


def siamese_reference(left, right, w):
    def encode(x):
        return dense(relu(dense(x, w, "hidden")), w, "embedding")

    a, b = encode(left), encode(right)
    cosine = np.sum(a * b, axis=-1, keepdims=True) / np.sqrt(np.sum(a * a, axis=-1, keepdims=True)
                                                             * np.sum(b * b, axis=-1, keepdims=True))
    return sigmoid(dense(cosine, w, "match"))


def model_with_varied_weights(path, seed=0):
    """The example with the weights of ``init(seed=0)``, its biases and
    normalisation statistics then drawn away from their zeros and ones so the
    references test them too; and those weights in float64."""
    model = layerspec.load(str(path)).init(seed=seed)
    rng = np.random.default_rng(seed + 100)
    weights = model.get_weights()
    for key, array in weights.items():
        if key.endswith(("/bias", "/beta", "/moving_mean")):
            weights[key] = (0.1 * rng.standard_normal(array.shape)).astype(np.float32)
        elif key.endswith(("/gamma", "/moving_variance")):
            weights[key] = rng.uniform(0.5, 2.0, array.shape).astype(np.float32)
    model.set_weights(weights)
    return model, {key: array.astype(np.float64) for key, array in model.get_weights().items()}


def test_resnet_small_equals_the_numpy_reference():
    model, weights = model_with_varied_weights(RESNET)
    x = sample_inputs(RESNET)["input"]
    expected = resnet_small_reference(x.astype(np.float64), weights)
    assert expected.shape == (3, 10)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_unet_small_equals_the_numpy_reference():
    model, weights = model_with_varied_weights(UNET)
    x = sample_inputs(UNET)["input"]
    expected = unet_small_reference(x.astype(np.float64), weights)
    assert expected.shape == (3, 64, 64, 1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_two_tower_equals_the_numpy_reference():
    model, weights = model_with_varied_weights(TWO_TOWER)
    inputs = sample_inputs(TWO_TOWER)
    classes, scores = model.predict(inputs)
    expected_classes, expected_scores = two_tower_reference(inputs["image"].astype(np.float64),
                                                            inputs["meta"].astype(np.float64), weights)
    np.testing.assert_allclose(classes, expected_classes, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(scores, expected_scores, rtol=RTOL, atol=ATOL)


def test_siamese_equals_the_numpy_reference():
    model, weights = model_with_varied_weights(SIAMESE)
    inputs = sample_inputs(SIAMESE)
    expected = siamese_reference(inputs["left"].astype(np.float64), inputs["right"].astype(np.float64), weights)
    np.testing.assert_allclose(model.predict(inputs), expected, rtol=RTOL, atol=ATOL)


def test_the_cli_runs_the_resnet_with_given_weights_as_the_reference(cli, tmp_path):
    model, weights = model_with_varied_weights(RESNET)
    np.savez(tmp_path / "w.npz", **model.get_weights())
    x = sample_inputs(RESNET, rows=5, seed=1)["input"]
    np.save(tmp_path / "x.npy", x)
    result = cli("run", RESNET, tmp_path / "x.npy", "--weights", tmp_path / "w.npz", "--batch-size", "2",
                 "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), resnet_small_reference(x.astype(np.float64), weights),
                               rtol=RTOL, atol=ATOL)


def test_the_cli_runs_the_unet_with_given_weights_as_the_reference(cli, tmp_path):
    model, weights = model_with_varied_weights(UNET)
    np.savez(tmp_path / "w.npz", **model.get_weights())
    x = sample_inputs(UNET, rows=2, seed=1)["input"]
    np.save(tmp_path / "x.npy", x)
    result = cli("run", UNET, tmp_path / "x.npy", "--weights", tmp_path / "w.npz", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), unet_small_reference(x.astype(np.float64), weights),
                               rtol=RTOL, atol=ATOL)


# -- the Siamese network's shared encoder --------------------------------------
def test_siamese_encoder_weights_are_stored_once():
    model = layerspec.load(str(SIAMESE)).init(seed=0)
    assert list(model.get_weights()) == ["hidden/kernel", "hidden/bias", "embedding/kernel", "embedding/bias",
                                         "match/kernel", "match/bias"]


def test_siamese_is_symmetric_and_matches_a_pair_with_itself():
    model = layerspec.load(str(SIAMESE)).init(seed=0)
    inputs = sample_inputs(SIAMESE, rows=4)
    forward = model.predict(inputs)
    backward = model.predict({"left": inputs["right"], "right": inputs["left"]})
    np.testing.assert_allclose(forward, backward, rtol=1e-6)
    # The same input on both sides: cosine similarity 1, so the head sees 1.
    weights = model.get_weights()
    same = model.predict({"left": inputs["left"], "right": inputs["left"]})
    np.testing.assert_allclose(same, sigmoid(weights["match/kernel"][0, 0] + weights["match/bias"][0])
                               * np.ones((4, 1)), rtol=1e-5)


def test_siamese_summary_has_the_reuse_rows(cli):
    data = json.loads(cli("summary", SIAMESE, "--format", "json").stdout)
    rows = {row["name"]: row for row in data["layers"]}
    assert [row["name"] for row in data["layers"]] == ["hidden", "embedding", "hidden_reuse", "embedding_reuse",
                                                       "cosine", "match"]
    for name, reused, macs in (("hidden_reuse", "hidden", 32 * 64), ("embedding_reuse", "embedding", 64 * 16)):
        row = rows[name]
        assert (row["type"], row["reuses"], row["params"], row["macs"], row["weights"]) == ("Dense", reused, 0,
                                                                                            macs, {})
        assert row["macs"] == rows[reused]["macs"]
    assert rows["cosine"]["inputs"] == ["embedding", "embedding_reuse"]
    assert data["inputs"] == {"left": [None, 32], "right": [None, 32]}
    assert data["outputs"] == {"match": [None, 1]}


# -- two_tower: several inputs and outputs through `run` -------------------------
@pytest.fixture
def two_tower_files(tmp_path):
    inputs = sample_inputs(TWO_TOWER, rows=4)
    np.save(tmp_path / "image.npy", inputs["image"])
    np.save(tmp_path / "meta.npy", inputs["meta"])
    np.savez(tmp_path / "both.npz", **inputs)
    return tmp_path, inputs


def expected_two_tower(inputs):
    """The outputs by name, with the weights of seed 0 (``run``'s default)."""
    model = layerspec.load(str(TWO_TOWER)).init(seed=0)
    return dict(zip(model.output_names, model.predict(inputs)))


def read_npz(path) -> dict:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


@pytest.mark.parametrize("how", ["named", "positional", "npz"])
def test_two_tower_runs_on_its_inputs_given_any_way(cli, two_tower_files, how):
    folder, inputs = two_tower_files
    given = {"named": ["--input", f"image={folder / 'image.npy'}", "--input", f"meta={folder / 'meta.npy'}"],
             "positional": [folder / "image.npy", folder / "meta.npy"],
             "npz": [folder / "both.npz"]}[how]
    result = cli("run", TWO_TOWER, *given, "-o", folder / "out.npz")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (f"wrote {folder / 'out.npz'}: outputs class (4, 5), score (4, 1), "
                                              "dtype float32")
    written = read_npz(folder / "out.npz")
    assert list(written) == ["class", "score"]
    assert written["class"].shape == (4, 5) and written["score"].shape == (4, 1)
    for name, array in expected_two_tower(inputs).items():
        np.testing.assert_allclose(written[name], array, rtol=1e-6, atol=1e-7)


def test_two_tower_named_inputs_may_come_in_any_order(cli, two_tower_files):
    folder, inputs = two_tower_files
    result = cli("run", TWO_TOWER, "--input", f"meta={folder / 'meta.npy'}", "--input",
                 f"image={folder / 'image.npy'}", "-o", folder / "out.npz")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(read_npz(folder / "out.npz")["score"], expected_two_tower(inputs)["score"],
                               rtol=1e-6, atol=1e-7)


def test_two_tower_prints_both_outputs_without_o(cli, two_tower_files):
    folder, _ = two_tower_files
    result = cli("run", TWO_TOWER, folder / "both.npz", "--seed", "0")
    assert result.exit_code == 0, result.stderr
    headers = [line for line in result.stdout.splitlines() if line.startswith("#")]
    assert headers == ["# output 'class' shape (4, 5), dtype float32", "# output 'score' shape (4, 1), dtype float32"]


def test_two_tower_refuses_one_npy_for_two_outputs(cli, two_tower_files):
    folder, _ = two_tower_files
    result = cli("run", TWO_TOWER, folder / "both.npz", "--seed", "0", "-o", folder / "out.npy")
    assert result.exit_code == 1
    assert result.stderr == (f"error: {folder / 'out.npy'}: the model has 2 outputs (class, score); write them to "
                             "one .npz keyed by output name (-o OUT.npz)\n")
    assert not (folder / "out.npy").exists()


def test_two_tower_refusal_of_one_npy_shows_no_random_weights_note(cli, two_tower_files):
    # The note about random weights is shown as the forward pass starts,
    # never before an error that stops the run (as for every other error).
    folder, _ = two_tower_files
    result = cli("run", TWO_TOWER, folder / "both.npz", "-o", folder / "out.npy")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {folder / 'out.npy'}: the model has 2 outputs (class, score); "
                                          "write them to one .npz keyed by output name (-o OUT.npz)"]


def test_two_tower_files_in_the_wrong_order_name_the_input(cli, two_tower_files):
    folder, _ = two_tower_files
    result = cli("run", TWO_TOWER, folder / "meta.npy", folder / "image.npy", "--seed", "0")
    assert result.exit_code == 1
    assert result.stderr == (f"error: {folder / 'meta.npy'} (input 'image'): input has shape (4, 8), expected "
                             "(batch, 32, 32, 3)\n")


def test_two_tower_wants_one_file_per_input(cli, two_tower_files):
    folder, _ = two_tower_files
    result = cli("run", TWO_TOWER, folder / "image.npy", folder / "meta.npy", folder / "meta.npy", "--seed", "0")
    assert result.exit_code == 1
    assert result.stderr == ("error: the model has 2 inputs (image, meta), got 3 files: give one per input in "
                             "order, NAME=FILE.npy pairs, or one .npz keyed by input name\n")


def test_two_tower_python_api_answers_as_the_outputs_were_given(two_tower_files):
    _, inputs = two_tower_files
    model = layerspec.load(str(TWO_TOWER)).init(seed=0)
    by_list = model.predict([inputs["image"], inputs["meta"]])
    by_dict = model.predict(inputs)
    assert isinstance(by_list, list) and len(by_list) == 2
    for a, b in zip(by_list, by_dict):
        np.testing.assert_array_equal(a, b)
    single = model.predict({"image": inputs["image"][0], "meta": inputs["meta"][0]})
    assert [array.shape for array in single] == [(5,), (1,)]
    np.testing.assert_allclose(single[0], by_list[0][0], rtol=1e-6)


def test_two_tower_runs_in_batches_as_at_once(cli, two_tower_files):
    folder, inputs = two_tower_files
    result = cli("run", TWO_TOWER, folder / "both.npz", "--seed", "0", "--batch-size", "3", "-o", folder / "out.npz")
    assert result.exit_code == 0, result.stderr
    written = read_npz(folder / "out.npz")
    for name, array in expected_two_tower(inputs).items():
        np.testing.assert_allclose(written[name], array, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("members, message", [
    ({"image"}, "{npz}: no array for input 'meta' (the model's inputs: image, meta; the file has: image)"),
    ({"image", "meta", "other"}, "{npz}: 'other' is not an input of the model (inputs: image, meta)"),
])
def test_two_tower_npz_must_hold_exactly_its_inputs(cli, two_tower_files, members, message):
    folder, inputs = two_tower_files
    arrays = {name: inputs.get(name, np.zeros(3)) for name in sorted(members)}
    np.savez(folder / "given.npz", **arrays)
    result = cli("run", TWO_TOWER, folder / "given.npz", "--seed", "0")
    assert result.exit_code == 1
    assert result.stderr == "error: " + message.format(npz=folder / "given.npz") + "\n"


def test_two_tower_inputs_must_have_as_many_rows(cli, two_tower_files):
    folder, inputs = two_tower_files
    np.save(folder / "meta3.npy", inputs["meta"][:3])
    result = cli("run", TWO_TOWER, folder / "image.npy", folder / "meta3.npy", "--seed", "0")
    assert result.exit_code == 1
    assert result.stderr == (f"error: the inputs have different numbers of rows ({folder / 'image.npy'} (input "
                             f"'image'): 4, {folder / 'meta3.npy'} (input 'meta'): 3)\n")


def test_two_tower_named_input_that_is_not_one(cli, two_tower_files):
    folder, _ = two_tower_files
    result = cli("run", TWO_TOWER, "--input", f"image={folder / 'image.npy'}", "--input",
                 f"metta={folder / 'meta.npy'}", "--seed", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no model input named 'metta'; did you mean 'meta'? (inputs: image, meta)")
