"""What training draws into a run folder besides GIF frames: the sample grid of a step (torchvision's
`make_grid`) and the loss curves (matplotlib), both as files the export carries. The app never
draws these: it reads the PNGs and losses.csv back (gan_demo.progress)."""

import io
from pathlib import Path

import matplotlib
import torch
from PIL import Image
from torchvision.utils import make_grid

from gan_demo.imaging import signed_to_uint8
from gan_demo.progress import smooth

matplotlib.use("Agg")  # no display on servers and in CI; must precede pyplot's import
import matplotlib.pyplot as plt  # noqa: E402

GRID_PADDING = 2


def sample_grid(images: torch.Tensor, columns: int) -> Image.Image:
    """(B, 3, H, W) tensor in [-1, 1] -> one PIL image, `columns` per row, on a white background."""
    grid = make_grid(images.detach().float().cpu(), nrow=columns, padding=GRID_PADDING, pad_value=1.0)  # (3, H', W')
    return Image.fromarray(signed_to_uint8(grid).permute(1, 2, 0).numpy())


def plot_losses(losses: dict[str, list[float]], path: "Path | io.BytesIO", title: str = "") -> None:
    """Loss curves, one per column besides `step`, lightly smoothed, written as a PNG."""
    steps = losses.get("step", [])
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=100)
    window = max(1, len(steps) // 100)
    for name, values in losses.items():
        if name == "step":
            continue
        curve = smooth(values, window)
        axes.plot(steps[len(steps) - len(curve):], curve, label=name, linewidth=1.2)
    axes.set_xlabel("iteration")
    axes.set_ylabel(f"loss (moving average of {window})" if window > 1 else "loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=8, ncols=2)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
