"""What every exported network of gan-demo shares: the Hub metadata, and the export format version
that config.json carries, so weights are never loaded into a network they were not trained for.

Format history:
- 1 (no `format_version` key): CycleGAN residual blocks were one conv-IN-ReLU added to x, and the
  generator's encoder had conv biases before instance norm. DCGenerator weights are unchanged since.
- 2: reference residual blocks (conv-IN-ReLU-conv-IN, reflection padding), no bias before any
  instance norm, N(0, 0.02) initialisation. Later in format 2, CycleGAN gained the optional `skips`
  key: an export without it is a generator without skip connections, exactly as before.
"""

from typing import Any

from huggingface_hub import PyTorchModelHubMixin

HUB_METADATA = dict(library_name="gan-demo", license="mit")
FORMAT_VERSION = 2
# Classes whose format-1 weights mean the same in format 2: such an export is converted by loading it as is.
UNCHANGED_SINCE_FORMAT_1 = ("DCGenerator",)


class ExportFormatError(ValueError):
    """An export whose format this version of gan-demo cannot load; the message says what to do."""


def check_format(class_name: str, config: dict[str, Any] | None) -> None:
    """Accept `config` (an export's config.json) for `class_name`, or raise ExportFormatError."""
    version = (config or {}).get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExportFormatError(f"config.json has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ExportFormatError(f"this {class_name} export has format {version}, newer than this gan-demo "
                                f"(format {FORMAT_VERSION}): update gan-demo to load it")
    if version < FORMAT_VERSION and class_name not in UNCHANGED_SINCE_FORMAT_1:
        raise ExportFormatError(f"this {class_name} export has format {version}, whose networks differ from "
                                f"today's (format {FORMAT_VERSION}): retrain it with this gan-demo "
                                "(python -m train.cyclegan ...) or load it with gan-demo 0.1")


class VersionedHubMixin(PyTorchModelHubMixin):
    """PyTorchModelHubMixin that checks config.json's format_version before building the network."""

    @classmethod
    def _from_pretrained(cls, *, config: dict[str, Any] | None = None, **kwargs: Any):
        check_format(cls.__name__, config)
        return super()._from_pretrained(**kwargs)
