"""What the package promises (docs/design.md): `gan_demo` and every one of its modules import without
training or UI dependencies (torchvision, matplotlib, accelerate, tqdm, gradio, the `train` package)
and without changing the environment; every package the code imports is pinned in requirements*.txt;
the app's hand-written grid lays images out exactly as torchvision's make_grid, which training uses."""

import ast
import json
import os
import pkgutil
import re
import subprocess
import sys
from importlib.metadata import packages_distributions

import pytest
import torch

import gan_demo
from gan_demo.imaging import make_grid
from tests.conftest import ROOT, SUBPROCESS_ENV
from train.plots import sample_grid

FORBIDDEN = ("torchvision", "matplotlib", "accelerate", "tqdm", "gradio", "train", "app")
MODULES = ["gan_demo", *(f"gan_demo.{module.name}" for module in pkgutil.walk_packages(gan_demo.__path__))]

# Imports one module in a fresh interpreter; prints the forbidden modules that importing it loaded and
# the environment variables it changed. `import torch` itself loads tqdm, so what torch loads is
# the baseline; test_no_gan_demo_source_imports_a_forbidden_module covers imports of those.
PROBE = """
import importlib, json, os, sys
import torch
def packages():
    return {name.split(".")[0] for name in sys.modules}
before, baseline = dict(os.environ), packages()
importlib.import_module(sys.argv[1])
loaded = sorted((packages() - baseline) & set(sys.argv[2].split(",")))
changed = sorted(key for key in set(before) | set(os.environ) if before.get(key) != os.environ.get(key))
print(json.dumps({"loaded": loaded, "changed": changed}))
"""


def probe(module: str, extra_path: str = "") -> dict:
    env = {key: value for key, value in SUBPROCESS_ENV.items() if key != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env["PYTHONPATH"], extra_path]))
    result = subprocess.run([sys.executable, "-c", PROBE, module, ",".join(FORBIDDEN)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_probe_sees_a_forbidden_import_and_an_environment_change(tmp_path):
    (tmp_path / "meddling.py").write_text("import os\nimport matplotlib\nos.environ['OMP_WAIT_POLICY'] = 'PASSIVE'\n")
    assert probe("meddling", str(tmp_path)) == {"loaded": ["matplotlib"], "changed": ["OMP_WAIT_POLICY"]}


@pytest.mark.parametrize("module", MODULES)
def test_gan_demo_imports_no_training_or_ui_dependency_and_changes_no_environment(module):
    assert probe(module) == {"loaded": [], "changed": []}


def imported_names(source: str) -> set[str]:
    """Top-level package names of every import statement in `source`, nested ones included."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_gan_demo_source_imports_a_forbidden_module():
    assert imported_names("import tqdm.auto\ndef f():\n    from matplotlib import pyplot\n") == {"tqdm", "matplotlib"}
    for path in sorted((ROOT / "gan_demo").rglob("*.py")):
        assert not imported_names(path.read_text()) & set(FORBIDDEN), path


def pinned_distributions() -> set[str]:
    """Normalised names of the `name==version` lines of requirements*.txt."""
    lines = "".join(path.read_text() for path in ROOT.glob("requirements*.txt")).splitlines()
    return {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in lines if "==" in line}


def test_every_imported_package_is_pinned():
    own = {"gan_demo", "train", "ui", "benchmarks", "tests", "app"}
    sources = [ROOT / "app.py", *(path for folder in own for path in (ROOT / folder).rglob("*.py"))]
    imported = set().union(*(imported_names(path.read_text()) for path in sources)) - own - set(sys.stdlib_module_names)
    distributions = packages_distributions()
    assert {"pandas", "psutil", "gradio_client", "PIL"} <= imported
    unpinned = {name for name in imported
                if not {re.sub(r"[-_.]+", "-", dist).lower() for dist in distributions[name]} & pinned_distributions()}
    assert unpinned == set()


def test_the_app_grid_is_laid_out_like_torchvision_make_grid():
    images = torch.rand(7, 3, 8, 6, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for columns in (1, 3, 7):
        assert make_grid(images, columns).tobytes() == sample_grid(images, columns).tobytes()


def test_importing_the_app_changes_nothing_in_gradio():
    """The app's changes to Gradio (ui/gradio_fixes.py) are applied by build_demo, never by an import."""
    check = ("import gradio.processing_utils as utils; before = {name: getattr(utils, name) for name in dir(utils)}; "
             "import app, ui.demo, ui.sample_tab, ui.translate_tab, ui.progress_tab, ui.models_tab; "
             "print(sorted(name for name in before if getattr(utils, name) is not before[name]))")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "[]"
