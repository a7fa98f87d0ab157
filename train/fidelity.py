"""Distribution distances between generated and real images, the field's way: FID and KID in the
features of the Inception network that torch-fidelity ships (its TensorFlow-compatible resize to
299x299, as every published FID uses), and KID on any other features (`train.evaluate` also runs it
on the domain classifier's, an offline judge). torch-fidelity downloads the Inception weights
when online; offline, pass a local copy of the same file (`feature_weights`). KID's subset size is
never above the number of images, so small held-out sets work (with wider error bars).
"""

from pathlib import Path

import torch
from torch_fidelity import calculate_metrics
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

from train.errors import UserError

KID_SUBSET_SIZE = 1000  # torch-fidelity's default, used whenever both sets are at least this large
KID_SUBSETS = 100
SEED = 2020  # torch-fidelity's default seed for drawing the KID subsets


def kid_subset_size(count_1: int, count_2: int) -> int:
    """The default subset size, or the smaller set's size when a set is smaller than that."""
    if min(count_1, count_2) < 2:
        raise UserError(f"KID needs at least 2 images on each side, got {count_1} and {count_2}")
    return min(KID_SUBSET_SIZE, count_1, count_2)


def kernel_distance(features_1: torch.Tensor, features_2: torch.Tensor) -> float:
    """KID (unbiased squared MMD, cubic polynomial kernel, mean over subsets) between (N1, D) and
    (N2, D) features: torch-fidelity's estimator on features of your choosing."""
    subset_size = kid_subset_size(len(features_1), len(features_2))
    metrics = kid_features_to_metric(features_1.double(), features_2.double(), kid_subsets=KID_SUBSETS,
                                     kid_subset_size=subset_size, rng_seed=SEED, verbose=False)
    return float(metrics[KEY_METRIC_KID_MEAN])


class ImageSet(torch.utils.data.Dataset):
    """uint8 images (N, 3, H, W) as the torch-fidelity input it takes: one (3, H, W) uint8 tensor per item."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def check_feature_weights(path: Path) -> None:
    """torch-fidelity unpickles a weights file without restriction; load it as plain tensors first, so
    a file holding anything else is refused before that."""
    if not path.is_file():
        raise UserError(f"--feature-weights {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # not a torch file, or one holding more than tensors: one line either way
        raise UserError(f"--feature-weights {path}: not a file of plain tensors ({error})") from None
    if not (isinstance(state, dict) and state and all(isinstance(value, torch.Tensor) for value in state.values())):
        raise UserError(f"--feature-weights {path}: not a state dict of the Inception network")


def inception_distances(generated: torch.Tensor, real: torch.Tensor, fid: bool, kid: bool,
                        feature_weights: Path | None = None) -> dict[str, float]:
    """FID and/or KID between uint8 images (N1, 3, H, W) and (N2, 3, H, W) in Inception-v3's pool
    features (2048 numbers per image), every image resized to 299x299 inside torch-fidelity."""
    if feature_weights is not None:
        check_feature_weights(feature_weights)
    subset_size = kid_subset_size(len(generated), len(real)) if kid else KID_SUBSET_SIZE
    try:
        metrics = calculate_metrics(
            input1=ImageSet(generated), input2=ImageSet(real), fid=fid, kid=kid, cuda=torch.cuda.is_available(),
            feature_extractor_weights_path=None if feature_weights is None else str(feature_weights),
            kid_subset_size=subset_size, kid_subsets=KID_SUBSETS, rng_seed=SEED, batch_size=32,
            cache=False, save_cpu_ram=True, verbose=False)
    except (OSError, RuntimeError) as error:  # no network for the weights, or weights of another network
        raise UserError(f"Inception features unavailable ({str(error).splitlines()[0]}); "
                        "offline, pass a local copy of the weights with --feature-weights") from None
    figures = {}
    if fid:
        figures["fid"] = float(metrics["frechet_inception_distance"])
    if kid:
        figures["kid"] = float(metrics[KEY_METRIC_KID_MEAN])
    return figures
