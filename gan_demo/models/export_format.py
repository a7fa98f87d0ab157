"""The export format every gan-demo network shares: the Hub metadata, the format version that
config.json carries (so weights are never loaded into a network they were not trained for), and the
rules a config.json from elsewhere (a Hub repo, a run folder) must pass before a network is built
from it: which class its keys name (`class_of`), which keys an older export may lack
(`OPTIONAL_KEYS`), the sizes this project serves (`check_sizes`), and a parser that bounds bytes,
nesting and numbers before Python's json builds anything (`parse_config`).

Format history:
- 1 (no `format_version` key): CycleGAN residual blocks were one conv-IN-ReLU added to x, and the
  generator's encoder had conv biases before instance norm. DCGenerator weights are unchanged since.
- 2: reference residual blocks (conv-IN-ReLU-conv-IN, reflection padding), no bias before any
  instance norm, N(0, 0.02) initialisation. Later in format 2, CycleGAN gained the optional `skips`
  key: an export without it is a generator without skip connections, exactly as before; then the
  optional `first_block_norm` key: without it, the first encoder block has instance norm as before;
  then the optional `output_block` key: without it, the decoder ends as before ("upsampled").
"""

import inspect
import json
import math
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin

HUB_METADATA = dict(library_name="gan-demo", license="mit")
FORMAT_VERSION = 2
# config.json keys an export may lack, its class's default then applies: format_version (format 1
# exports), skips, first_block_norm and output_block (CycleGANs exported before the options), norm
# (DCGANs exported before the option).
OPTIONAL_KEYS = {"format_version", "skips", "first_block_norm", "output_block", "norm"}
# What this app serves, fitting a 2-core CPU Space: the bundled models are latent 100, conv 32, 64 px,
# 3 residual blocks; these bounds allow some 30x that compute per image.
SIZE_LIMITS = {"latent_dim": (1, 1024), "conv_dim": (1, 128), "image_size": (16, 256), "n_res_blocks": (1, 12)}
MAX_DOMAIN_NAME = 40
# The sizes alone allow a DCGAN of 168 M parameters that takes seconds per cat: the network a config
# builds is also bounded in parameters (memory as float32) and in work per image, about 40x the
# bundled DCGAN's 0.12 GFLOP and 28x the bundled CycleGAN's 0.18 GFLOP.
MAX_PARAMETERS = 16_000_000
MAX_GIGAFLOPS_PER_IMAGE = 5.0
# A gan-demo config.json is a flat object of small numbers, names and flags: anything far beyond
# that is refused before parsing (a 30,000-deep nesting overflows Python's recursion, and a
# 5000-digit integer exceeds its int parsing limit, both with a traceback instead of a message).
MAX_CONFIG_BYTES = 64 * 1024
MAX_CONFIG_DEPTH = 8
MAX_NUMBER_CHARACTERS = 32
# Classes whose format-1 weights mean the same in format 2: such an export is converted by loading it as is.
UNCHANGED_SINCE_FORMAT_1 = ("DCGenerator",)


class ExportFormatError(ValueError):
    """An export whose format this version of gan-demo cannot load, or a config.json that is not a
    gan-demo export's; the message is one line saying what is wrong (or what to do)."""


def check_format(class_name: str, config: dict[str, Any] | None) -> None:
    """Accept `config` (an export's config.json) for `class_name`, or raise ExportFormatError."""
    version = (config or {}).get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExportFormatError(f"config.json has an invalid format_version {shown_value(version)}")
    if version > FORMAT_VERSION:
        raise ExportFormatError(f"this {class_name} export has format {version}, newer than this gan-demo "
                                f"(format {FORMAT_VERSION}): update gan-demo to load it")
    if version < FORMAT_VERSION and class_name not in UNCHANGED_SINCE_FORMAT_1:
        raise ExportFormatError(f"this {class_name} export has format {version}, whose networks differ from "
                                f"today's (format {FORMAT_VERSION}): retrain it with this gan-demo "
                                "(python -m train.cyclegan ...) or load it with gan-demo 0.1")


def parse_config(data: bytes) -> dict[str, Any]:
    """config.json's bytes -> its object, refusing in one line what no gan-demo export holds: more than
    MAX_CONFIG_BYTES, nesting deeper than MAX_CONFIG_DEPTH, a number longer than
    MAX_NUMBER_CHARACTERS, NaN or Infinity, anything but a JSON object at the top."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ExportFormatError(f"config.json is {len(data):,} bytes, more than a gan-demo config ever needs "
                                f"({MAX_CONFIG_BYTES:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ExportFormatError("config.json is not UTF-8 text") from None
    if nesting_depth(text) > MAX_CONFIG_DEPTH:
        raise ExportFormatError(f"config.json nests deeper than the {MAX_CONFIG_DEPTH} levels a gan-demo config "
                                "could use")
    try:
        config = json.loads(text, parse_int=bounded_number(int), parse_float=bounded_number(float),
                            parse_constant=refused_constant)
    except ValueError as error:  # json.JSONDecodeError is a ValueError; so are the refusals above
        reason = str(error) if isinstance(error, ExportFormatError) else "is not valid JSON"
        raise ExportFormatError(f"config.json {reason}") from None
    if not isinstance(config, dict):
        raise ExportFormatError("config.json is not a JSON object")
    return config


def nesting_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text, brackets inside strings not counted; linear time,
    no recursion, so it can look at what json.loads would overflow on."""
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    return deepest


def bounded_number(kind: type):
    """A parse_int / parse_float for json.loads that refuses long literals before converting them
    (Python refuses integers over 4300 digits with a ValueError of its own) and infinite floats."""
    def parse(literal: str):
        if len(literal) > MAX_NUMBER_CHARACTERS:
            raise ExportFormatError(f"holds a number of {len(literal):,} characters, more than "
                                    f"{MAX_NUMBER_CHARACTERS}")
        number = kind(literal)
        if not math.isfinite(number):
            raise ExportFormatError(f"holds {shown_value(literal)}, too large for a number a gan-demo config uses")
        return number
    return parse


def refused_constant(name: str):
    raise ExportFormatError(f"holds {name}, which is not a number a gan-demo config uses")


def exportable_classes() -> dict[str, type[torch.nn.Module]]:
    """The model kinds and their classes (gan_demo.models.MODEL_CLASSES). Imported on call: the
    networks import this module for their mixin, so it cannot import them while it loads."""
    from gan_demo.models import MODEL_CLASSES

    return MODEL_CLASSES


def class_of(config: dict[str, Any]) -> type[torch.nn.Module]:
    """The gan-demo class whose constructor arguments are exactly config.json's keys, but for those of
    OPTIONAL_KEYS that it lacks."""
    keys, classes = set(config), exportable_classes().values()
    for model_class in classes:
        parameters = set(inspect.signature(model_class.__init__).parameters) - {"self"}
        if keys <= parameters and parameters - keys <= OPTIONAL_KEYS:
            return model_class
    shown = ", ".join(sorted(key[:40] for key in keys)[:12]) or "none"
    raise ExportFormatError(f"not a gan-demo export (config.json keys {shown} are those of neither "
                            f"{' nor '.join(model_class.__name__ for model_class in classes)})")


def check_sizes(config: dict[str, Any]) -> None:
    """config.json's sizes and options are within what this app serves (SIZE_LIMITS, the options'
    values), so building the network cannot take unbounded memory or time."""
    # The networks' option values; imported on call for the reason exportable_classes gives.
    from gan_demo.models.cyclegan import FIRST_BLOCK_NORMS, OUTPUT_BLOCKS, SKIP_OPTIONS
    from gan_demo.models.dcgan import NORMS

    for key, (smallest, largest) in SIZE_LIMITS.items():
        if key not in config:
            continue
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or not smallest <= value <= largest:
            raise ExportFormatError(f"{key} {shown_value(value)} is outside what this app serves "
                                    f"({smallest} to {largest})")
    if config["image_size"] & (config["image_size"] - 1):
        raise ExportFormatError(f"image_size {config['image_size']} is not a power of two")
    # CycleGAN's skip option: one of SKIP_OPTIONS, or the boolean older exports carry.
    skips = config.get("skips", "none")
    if not (isinstance(skips, bool) or isinstance(skips, str) and skips in SKIP_OPTIONS):
        raise ExportFormatError(f"skips must be one of {', '.join(SKIP_OPTIONS)} (or true or false), "
                                f"not {shown_value(skips)}")
    if config.get("first_block_norm", "instance") not in FIRST_BLOCK_NORMS:
        raise ExportFormatError(f"first_block_norm must be one of {', '.join(FIRST_BLOCK_NORMS)}, "
                                f"not {shown_value(config['first_block_norm'])}")
    if config.get("output_block", "upsampled") not in OUTPUT_BLOCKS:
        raise ExportFormatError(f"output_block must be one of {', '.join(OUTPUT_BLOCKS)}, "
                                f"not {shown_value(config['output_block'])}")
    if config.get("norm", "instance") not in NORMS:
        raise ExportFormatError(f"norm must be one of {', '.join(NORMS)}, not {shown_value(config['norm'])}")
    for key in ("domain_a", "domain_b"):
        if key in config and not (isinstance(config[key], str) and 0 < len(config[key]) <= MAX_DOMAIN_NAME
                                  and config[key].isprintable()):
            raise ExportFormatError(f"{key} must be a name of 1 to {MAX_DOMAIN_NAME} printable characters")


def check_cost(model_class: type[torch.nn.Module], config: dict[str, Any]) -> None:
    """The network `config` builds has at most MAX_PARAMETERS parameters and costs at most
    MAX_GIGAFLOPS_PER_IMAGE per image. Built and run on the meta device: shapes only, no memory, no work."""
    # Imported here: it costs 0.3 s, which every import of the networks would pay, and only a check needs it.
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        network = model_class(**config)
        parameters = sum(parameter.numel() for parameter in network.parameters())
        if parameters > MAX_PARAMETERS:
            raise ExportFormatError(f"the network has {parameters / 1e6:.1f} M parameters, more than the "
                                    f"{MAX_PARAMETERS / 1e6:.0f} M this app serves")
        # One image through what a request runs: the generator, or one direction of a CycleGAN.
        generator, example = ((network, torch.empty(1, network.latent_dim)) if hasattr(network, "latent_dim") else
                              (network.gen_a2b, torch.empty(1, 3, network.image_size, network.image_size)))
        with FlopCounterMode(display=False) as counter:
            generator(example)
    gigaflops = counter.get_total_flops() / 1e9
    if gigaflops > MAX_GIGAFLOPS_PER_IMAGE:
        raise ExportFormatError(f"the network takes {gigaflops:.1f} GFLOP per image, more than the "
                                f"{MAX_GIGAFLOPS_PER_IMAGE:g} this app serves")


def check_config(config: dict[str, Any]) -> type[torch.nn.Module]:
    """The class config.json names, after every rule of the format: its keys, its format version,
    its sizes and options, the network's cost. ExportFormatError with one line saying which failed."""
    model_class = class_of(config)
    check_format(model_class.__name__, config)
    check_sizes(config)
    check_cost(model_class, config)
    return model_class


def shown_value(value: Any, limit: int = 40) -> str:
    """repr(value) cut to `limit` characters: a value from a stranger may be any length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class VersionedHubMixin(PyTorchModelHubMixin):
    """PyTorchModelHubMixin that checks config.json's format_version before building the network."""

    @classmethod
    def _from_pretrained(cls, *, config: dict[str, Any] | None = None, **kwargs: Any):
        check_format(cls.__name__, config)
        return super()._from_pretrained(**kwargs)
