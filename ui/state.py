"""The app's state, one explicit object every tab is built over: the registry of models (bundled, added by
repo id, local runs), the folder of local training runs, and the folder of files handed to visitors.
Nothing here is module-level: `build_demo` makes one AppState and passes it to each tab, so two apps in
one process (tests) never share models or runs."""

from dataclasses import dataclass, field
from pathlib import Path

from gan_demo import catalog, progress
from gan_demo import runs as local_runs
from gan_demo.inference import ModelLoadError
from ui.components import refusal
from ui.gpu import serving_device
from ui.served_files import ServedFiles


@dataclass
class AppState:
    """What the tabs share. `runs_root` is None when the app shows no local runs."""

    registry: catalog.ModelRegistry
    runs_root: Path | None = None
    served: ServedFiles = field(default_factory=ServedFiles)

    @classmethod
    def build(cls, runs_folder: "str | Path | None" = None) -> "AppState":
        """The registry of the bundled (or Hub-pinned) models, and the runs under `runs_folder` (else
        $GAN_DEMO_RUNS)."""
        registry = catalog.build_registry()
        device = serving_device()  # "cuda" on ZeroGPU, where a call holds a lent GPU; else "cpu"
        for entry in registry.models():
            entry.model.to(device)
        return cls(registry, local_runs.runs_folder(runs_folder))

    def load(self, name: str, kind: str | None = None) -> catalog.RegisteredModel:
        """The loaded model called `name` (of `kind`, if given), or a one-line refusal for the page."""
        if name.startswith(local_runs.RUN_PREFIX):  # a run's newest export, or one that appeared since the last look
            self.sync_runs()
        try:
            resolved = self.registry.get(name)
        except catalog.ModelUnavailable as error:
            raise refusal(error, "Model unavailable") from None
        if kind is not None and resolved.kind != kind:
            wanted = "a DCGAN (Sample cats)" if kind == "dcgan" else "a CycleGAN (Translate)"
            raise refusal(f"{name} is a {resolved.kind}; this needs {wanted}", "Wrong kind of model")
        return resolved

    def available(self, kind: str | None = None, with_progress: bool = False) -> list[catalog.RegisteredModel]:
        """The models of `kind` that load (and that have a progress GIF, if asked), in registry order."""
        return [resolved for resolved in self.registry.models(kind)
                if not with_progress or (resolved.progress_folder and progress.has_progress(resolved.progress_folder))]

    def sync_runs(self) -> list[str]:
        """Offer the latest export of every local run as run:<name> (re-registered when a checkpoint
        rewrites it); the names of the runs, those without an export yet included."""
        names = local_runs.run_names(self.runs_root)
        for name in names:
            folder = self.runs_root / name
            kind = local_runs.export_kind(folder)
            if kind is None:
                continue
            try:
                model = local_runs.load_export(folder)
            except ModelLoadError:  # caught mid-checkpoint: keep what was offered before
                continue
            # A run's CycleGAN directions carry its name: its domains may be named as a bundled model's are.
            self.registry.add(local_runs.RUN_PREFIX + name, kind, model, f"local run: {name}",
                              label=f"{local_runs.RUN_PREFIX}{name}", note=f"{local_runs.RUN_PREFIX}{name}")
        return names

    def model_choices(self, kind: str) -> list[tuple[str, str]]:
        """(label, name) of every loaded model of `kind`, as the registry holds them (after `sync_runs`,
        local runs' newest exports included)."""
        return [(entry.label, entry.name) for entry in self.available(kind)]

    def direction_choices(self) -> list[str]:
        return [choice.label for choice in self.registry.translation_choices()]

    def models_markdown(self) -> str:
        """The table of where every model comes from."""
        lines = ["| model | what | source |", "| --- | --- | --- |"]
        for resolved in self.registry.models(available=False):
            lines.append(f"| `{resolved.name}` | {resolved.kind}: {resolved.label} | {resolved.source} |")
        return "\n".join(lines)
