"""Export a trained generator to ONNX, checked against PyTorch:
`python -m train.export_onnx EXPORT_OR_RUN --out DIR [--push-to-hub REPO_ID [--revision BRANCH] [--private]]`.

A DCGAN export becomes `generator.onnx` (z (batch, latent_dim) -> images (batch, 3, S, S)), a CycleGAN
export `gen_a2b.onnx` and `gen_b2a.onnx` (images (batch, 3, H, W) -> the same shape; batch, height and
width are dynamic, height and width multiples of 4), written with torch.export-based exporter
(`torch.onnx.export(..., dynamo=True)`) at opset OPSET, weights inside each file. Beside them,
`onnx.json` states the conventions (NCHW float32 RGB in [-1, 1], the latent size and distribution,
the input and output names) and the check: before anything is written to DIR, onnxruntime runs each
file on seeded random inputs at several sizes and the largest absolute difference from PyTorch must
stay within TOLERANCE. A generator option this exporter has not been checked on (a config.json key or
value outside EXPORTABLE_OPTIONS) is refused in one line naming it, never exported as a different
network. `--push-to-hub` publishes the export with its ONNX files under onnx/ in one commit, the model
card gaining the five lines that run them with onnxruntime and PIL.
"""

import argparse
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.export import Dim

from gan_demo import hub
from gan_demo.inference import ModelLoadError, load_folder
from gan_demo.models import CycleGAN, DCGenerator
from train import model_card, publish
from train.errors import UserError, exit_quietly_on_stop_signals, main

OPSET = 18
TOLERANCE = 1e-4  # largest absolute difference from PyTorch allowed, float32 on [-1, 1] pixels
CONVENTIONS_FILE = "onnx.json"
HUB_FOLDER = "onnx"  # where the files go in the model's Hub repo
MAX_BATCH = 1024
MIN_SIDE, MAX_SIDE = 8, 4096  # a CycleGAN's height and width, multiples of 4
# Inputs the check runs: DCGAN batch sizes; CycleGAN (batch, height, width), the first at the model's
# own size. Non-square and not powers of two, so a shape baked in by mistake would show.
CHECK_BATCHES = (1, 3, 16)
CHECK_SHAPES = ((1, None, None), (3, 36, 100), (2, 100, 44), (1, 256, 256))
CHECK_SEED = 0
# Constructor arguments that only size the network (any value exports the same graph) ...
SIZE_KEYS = {"latent_dim", "conv_dim", "image_size", "n_res_blocks", "domain_a", "domain_b", "format_version"}
# ... and the options that change its structure, with the values this exporter was checked on
# (tests/test_onnx.py exports each one). Anything else is refused rather than guessed at.
EXPORTABLE_OPTIONS = {"norm": ("pixel", "instance"), "skips": (False, True, "none", "features", "features+input"),
                      "first_block_norm": ("instance", "none"), "output_block": ("upsampled", "full-resolution")}


@dataclass(frozen=True)
class Network:
    """One generator to export: the module, its file name, an example input and its dynamic dimensions."""

    file: str
    module: torch.nn.Module
    example: torch.Tensor
    input_name: str
    output_name: str
    dynamic_shapes: dict
    input_shape: list  # as onnx.json states it


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.export_onnx", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, metavar="EXPORT_OR_RUN",
                        help="an exported model folder, or a run folder (its export/ is used)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the .onnx files and onnx.json go")
    parser.add_argument("--push-to-hub", metavar="REPO_ID",
                        help="also publish the model with its ONNX files (under onnx/) to this Hub model repo")
    parser.add_argument("--revision", metavar="BRANCH", help="with --push-to-hub: the branch (default main)")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
    return parser.parse_args(argv)


def read_config(export: Path) -> dict:
    try:
        config = json.loads((export / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{export / 'config.json'}: not valid JSON") from None
    if not isinstance(config, dict):
        raise UserError(f"{export / 'config.json'}: not a JSON object")
    return config


def check_exportable(config: dict, where: Path) -> type[torch.nn.Module]:
    """The class of the export whose config.json is `config`, if every key and option in it is one the
    ONNX export was checked on; otherwise UserError naming the first that is not."""
    for key, value in config.items():
        if key in SIZE_KEYS:
            continue
        if key not in EXPORTABLE_OPTIONS:
            raise UserError(f"{where}: cannot export option {key}={json.dumps(value)} to ONNX: this exporter does not "
                            "know it, so it would write a different network; nothing was written")
        if not any(value is known or (type(value) is type(known) and value == known)
                   for known in EXPORTABLE_OPTIONS[key]):
            known = ", ".join(json.dumps(option) for option in EXPORTABLE_OPTIONS[key])
            raise UserError(f"{where}: cannot export {key}={json.dumps(value)} to ONNX (it exports {key} {known}); "
                            "nothing was written")
    return DCGenerator if "latent_dim" in config else CycleGAN


def networks_of(model: torch.nn.Module) -> list[Network]:
    batch = Dim("batch", min=1, max=MAX_BATCH)
    if isinstance(model, DCGenerator):
        return [Network("generator.onnx", model, torch.zeros(2, model.latent_dim), "z", "images",
                        {"z": {0: batch}}, ["batch", model.latent_dim])]
    # Height and width are 4 * k: the generator halves them twice and doubles them back; k >= 2, since
    # the residual blocks' reflection padding needs two pixels to reflect.
    height, width = (Dim(f"{side}_quarters", min=MIN_SIDE // 4, max=MAX_SIDE // 4) for side in ("height", "width"))
    dynamic = {"images": {0: batch, 2: 4 * height, 3: 4 * width}}
    example = torch.zeros(2, 3, model.image_size, model.image_size)
    return [Network(f"{name}.onnx", getattr(model, name), example, "images", "translated", dynamic,
                    ["batch", 3, "height", "width"]) for name in ("gen_a2b", "gen_b2a")]


def check_inputs(network: Network, image_size: int) -> list[torch.Tensor]:
    """Seeded random inputs: z ~ N(0, I) for a DCGAN, uniform [-1, 1] images for a CycleGAN."""
    generator = torch.Generator().manual_seed(CHECK_SEED)
    if network.input_name == "z":
        return [torch.randn(batch, network.example.shape[1], generator=generator) for batch in CHECK_BATCHES]
    return [torch.rand(batch, 3, height or image_size, width or image_size, generator=generator) * 2 - 1
            for batch, height, width in CHECK_SHAPES]


def max_difference(path: Path, network: Network, inputs: list[torch.Tensor]) -> float:
    """The largest absolute difference between onnxruntime's outputs and PyTorch's over `inputs`."""
    import onnxruntime  # only here: the app and training never need it

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    largest = 0.0
    for batch in inputs:
        with torch.no_grad():
            expected = network.module(batch).numpy()
        (produced,) = session.run([network.output_name], {network.input_name: batch.numpy()})
        if produced.shape != expected.shape:
            raise UserError(f"{network.file}: onnxruntime gave shape {produced.shape} for input "
                            f"{tuple(batch.shape)}, PyTorch {expected.shape}; nothing was written")
        largest = max(largest, float(np.abs(produced - expected).max()))
    return largest


def export_network(network: Network, path: Path) -> int:
    """Write `network` to `path` as one self-contained ONNX file; returns the opset it declares."""
    import onnx

    program = torch.onnx.export(network.module, (network.example,), input_names=[network.input_name],
                                output_names=[network.output_name], dynamic_shapes=network.dynamic_shapes,
                                opset_version=OPSET, dynamo=True, verbose=False)
    program.save(str(path), external_data=False)
    opsets = {entry.domain: entry.version for entry in onnx.load(str(path), load_external_data=False).opset_import}
    return opsets[""]


def conventions(model: torch.nn.Module, networks: list[Network], opset: int, differences: dict[str, float]) -> dict:
    import onnxruntime

    is_dcgan = isinstance(model, DCGenerator)
    return {
        "format": "gan-demo ONNX export",
        "kind": "dcgan" if is_dcgan else "cyclegan",
        "opset": opset,
        "layout": "NCHW",
        "dtype": "float32",
        "pixel_range": [-1, 1],
        "to_uint8": "round((x + 1) * 127.5), clipped to 0..255; channels RGB",
        "latent_dim": model.latent_dim if is_dcgan else None,
        "latent_distribution": "N(0, I)" if is_dcgan else None,
        "image_size": model.image_size,
        "domains": None if is_dcgan else {"a": model.domain_a, "b": model.domain_b,
                                           "gen_a2b": "a -> b", "gen_b2a": "b -> a"},
        "sides": None if is_dcgan else {"multiple_of": 4, "min": MIN_SIDE, "max": MAX_SIDE},
        "networks": {network.file: {"input": {"name": network.input_name, "shape": network.input_shape},
                                    "output": {"name": network.output_name,
                                               "shape": (["batch", 3, model.image_size, model.image_size] if is_dcgan
                                                         else ["batch", 3, "height", "width"])}}
                     for network in networks},
        "check": {"tolerance": TOLERANCE, "max_abs_difference": differences,
                  "inputs": ({"batch_sizes": list(CHECK_BATCHES)} if is_dcgan else
                             {"batch_height_width": [[batch, height or model.image_size, width or model.image_size]
                                                     for batch, height, width in CHECK_SHAPES]}),
                  "seed": CHECK_SEED, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
    }


def export_onnx(source: "str | Path", out: "str | Path") -> dict:
    """Export the model of `source` (an export or run folder) to ONNX files in `out`, checked against
    PyTorch; returns what onnx.json holds. Nothing is written to `out` unless every check passes."""
    try:
        export = publish.export_folder(source)
    except hub.HubError as error:
        raise UserError(str(error)) from None
    model_class = check_exportable(read_config(export), export)
    try:
        model = load_folder(model_class, str(export))
    except ModelLoadError as error:
        raise UserError(str(error)) from None
    out = Path(out)
    networks = networks_of(model)
    with tempfile.TemporaryDirectory(prefix="gan-demo-onnx-") as staging:
        differences, opset = {}, OPSET
        for network in networks:
            path = Path(staging) / network.file
            opset = export_network(network, path)
            differences[network.file] = max_difference(path, network, check_inputs(network, model.image_size))
            if differences[network.file] > TOLERANCE:
                raise UserError(f"{network.file}: onnxruntime differs from PyTorch by {differences[network.file]:.2e}, "
                                f"more than {TOLERANCE:.0e}; nothing was written")
        result = conventions(model, networks, opset, differences)
        (Path(staging) / CONVENTIONS_FILE).write_text(json.dumps(result, indent=2) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        for network in networks:
            shutil.move(str(Path(staging) / network.file), out / network.file)
        shutil.move(str(Path(staging) / CONVENTIONS_FILE), out / CONVENTIONS_FILE)
    return result


SNIPPETS = {
    "dcgan": """```python
import numpy as np, onnxruntime as ort, huggingface_hub
from PIL import Image
session = ort.InferenceSession(huggingface_hub.hf_hub_download({repo}, "onnx/generator.onnx"{revision}))
images = session.run(None, {{"z": np.random.default_rng(0).standard_normal((4, {latent_dim}), dtype=np.float32)}})[0]
Image.fromarray(((images[0].transpose(1, 2, 0) + 1) * 127.5).round().clip(0, 255).astype(np.uint8)).save("cat.png")
```""",
    "cyclegan": """```python
import numpy as np, onnxruntime as ort, huggingface_hub
from PIL import Image
session = ort.InferenceSession(huggingface_hub.hf_hub_download({repo}, "onnx/gen_a2b.onnx"{revision}))
photo = np.asarray(Image.open("photo.jpg").convert("RGB").resize(({size}, {size})), np.float32).transpose(2, 0, 1)[None] / 127.5 - 1
Image.fromarray(((session.run(None, {{"images": photo}})[0][0].transpose(1, 2, 0) + 1) * 127.5).round().clip(0, 255).astype(np.uint8)).save("translated.png")
```""",  # noqa: E501 (five lines a reader pastes, kept whole)
}


def card_section(onnx_conventions: dict, repo_id: str, revision: str | None) -> str:
    """The model card's ONNX section: what the files are, and five lines that run one."""
    kind = onnx_conventions["kind"]
    snippet = SNIPPETS[kind].format(repo=json.dumps(repo_id), latent_dim=onnx_conventions["latent_dim"],
                                    size=onnx_conventions["image_size"],
                                    revision=f", revision={json.dumps(revision)}" if revision else "")
    differences = ", ".join(f"{value:.1e}" for value in onnx_conventions["check"]["max_abs_difference"].values())
    if kind == "dcgan":
        what = (f"`onnx/generator.onnx`: z, float32 (batch, {onnx_conventions['latent_dim']}) drawn from N(0, I) -> "
                "images (batch, 3, H, W)")
    else:
        domains = onnx_conventions["domains"]
        what = (f"`onnx/gen_a2b.onnx` ({domains['a']} -> {domains['b']}) and `onnx/gen_b2a.onnx` (back): images "
                "(batch, 3, height, width), height and width multiples of 4 -> translated, the same shape")
    return f"""
## ONNX

{what}; RGB, NCHW, float32 in [-1, 1]; opset {onnx_conventions['opset']}; conventions in `onnx/onnx.json`.
onnxruntime's outputs were within {differences} of PyTorch's on random inputs at several sizes
(largest absolute difference; checked when exported). Run it with onnxruntime and Pillow only:

{snippet}
"""


def push_with_model(export: Path, onnx_folder: Path, onnx_conventions: dict, repo_id: str, revision: str | None,
                    private: bool) -> publish.PushResult:
    """Publish the export and its ONNX files in one commit, the card gaining the ONNX section."""
    card_path = export / "README.md"
    card = model_card.point_to_repo(card_path.read_text(), repo_id, revision) if card_path.is_file() else ""
    card += card_section(onnx_conventions, repo_id, revision)
    files = {f"{HUB_FOLDER}/{name}": onnx_folder / name
             for name in [*onnx_conventions["networks"], CONVENTIONS_FILE]}
    try:
        return publish.push_folder(export, repo_id, revision=revision, private=private, model_card=card,
                                   extra_files=files)
    except hub.HubError as error:
        raise UserError(publish.redact(f"{error} (nothing was published to {repo_id})")) from None


def parse_and_export(argv: list[str]) -> None:
    args = parse_args(argv)
    result = export_onnx(args.folder, args.out)
    for name, difference in result["check"]["max_abs_difference"].items():
        print(f"{args.out / name}: opset {result['opset']}, max abs difference from PyTorch {difference:.2e}")
    print(f"conventions: {args.out / CONVENTIONS_FILE}")
    if args.push_to_hub:
        exit_quietly_on_stop_signals(f"while publishing to {args.push_to_hub}: nothing was published")
        pushed = push_with_model(publish.export_folder(args.folder), args.out, result, args.push_to_hub,
                                 args.revision, args.private)
        print(f"published to {pushed.repo_url} (branch {args.revision or 'main'}), ONNX files under {HUB_FOLDER}/")
        print(f"commit {pushed.commit_id}: {pushed.commit_url}")


if __name__ == "__main__":
    main(parse_and_export)
