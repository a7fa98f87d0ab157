"""train.evaluate on a user's own CycleGAN: the held-out split, the domain classifier, and the figures;
the round trip with the generators' direct input path cut; FID and KID through torch-fidelity.

This machine cannot download torch-fidelity's Inception weights, so the FID / KID tests run on a
stand-in: the same Inception-v3 architecture, randomly initialised and saved by the test. The figures
are then meaningless as quality measures; what the tests check is the code path (weights file in,
torch-fidelity's resize and features, FID, KID on sets smaller than its default subset) and that the
distances tell different sets from equal ones."""

import json
from unittest import mock

import pytest
import torch
from torch import nn
from torch_fidelity import feature_extractor_inceptionv3

from gan_demo.models import CycleGAN, CycleGenerator, DCGenerator
from tests.conftest import make_images, run_cli, run_main
from train.data import list_images, split_holdout
from train.domain_classifier import train_domain_classifier
from train.evaluate import parse_and_run, still_in_own_domain, white_backgrounds, without_input_path
from train.fidelity import KID_SUBSET_SIZE, inception_distances, kernel_distance, kid_subset_size
from train.kid_comparison import difference_summary, differences_on_halves, random_halves


@pytest.fixture(scope="module")
def stand_in_inception_weights(tmp_path_factory):
    """A weights file for torch-fidelity's Inception-v3, randomly initialised (He-normal convolutions,
    so the features do not fade to zero through its 94 layers): the real weights are a download."""
    inception = feature_extractor_inceptionv3
    torch.manual_seed(0)
    # Build the network without the download (the constructor loads weights from a URL or a path).
    with mock.patch.object(inception, "load_state_dict_from_url", return_value=None), \
            mock.patch.object(inception.FeatureExtractorInceptionV3, "load_state_dict"):
        network = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("inception") / "stand-in-inception.pth"
    torch.save(network.state_dict(), path)
    return path


def test_holdout_split_is_stable_and_disjoint(tmp_path):
    folder = make_images(tmp_path / "images", count=20, seed=0)
    training, held = split_holdout(list_images(folder, "--data"), folder, 0.25)
    assert len(held) == 5 and len(training) == 15 and not set(training) & set(held)
    make_images(tmp_path / "images" / "more", count=4, seed=1)  # new files do not reshuffle the old ones
    _, held_again = split_holdout(list_images(folder, "--data"), folder, 0.25)
    assert len(set(held) & set(held_again)) >= 4


def test_evaluate_a_cyclegan_on_its_held_out_images(tmp_path, stand_in_inception_weights):
    data_a = make_images(tmp_path / "red", count=8, seed=0, size=(16, 16), tint=(120, 0, 0))
    data_b = make_images(tmp_path / "blue", count=8, seed=1, size=(16, 16), tint=(0, 0, 120))
    run_dir = tmp_path / "run"  # given as the run folder, as a trainer leaves it: the model is in its export/
    CycleGAN(domain_a="red", domain_b="blue", image_size=16, conv_dim=4, n_res_blocks=1,
             skips="features+input").save_pretrained(run_dir / "export")
    result = run_cli("train.evaluate", "--cyclegan", str(run_dir), "--data-a", str(data_a), "--data-b", str(data_b),
                     "--holdout", "0.25", "--fid", "--kid", "--feature-weights", str(stand_in_inception_weights),
                     "--json", str(tmp_path / "figures.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads((tmp_path / "figures.json").read_text())[str(run_dir)]
    assert (figures["images_a"], figures["images_b"], figures["held_out"]) == (2, 2, True)
    # Red and blue are trivially told apart; an untrained generator's output is neither and comes back blurred.
    for key in ("classifier_accuracy_on_real", "real_a_classified_a", "real_b_classified_b"):
        assert figures[key] == 1.0, key
    for key in ("a_to_b_classified_b", "b_to_a_classified_a"):
        assert 0 <= figures[key] <= 1
    assert figures["l1_a_to_b_to_a"] > 0.05 and figures["l1_b_to_a_to_b"] > 0.05
    # Its generators have a direct input path, so the round trips are measured again without it.
    for direction in ("a_to_b_to_a", "b_to_a_to_b"):
        assert figures[f"l1_{direction}_without_input_path"] != figures[f"l1_{direction}"]
    # 2 translations against 2 real images of the target domain, in the classifier's features and in
    # the (stand-in) Inception's: KID on subsets of 2, not torch-fidelity's default 1000.
    for direction in ("a_to_b", "b_to_a"):
        for key in (f"classifier_kid_{direction}", f"inception_fid_{direction}", f"inception_kid_{direction}"):
            assert torch.isfinite(torch.tensor(figures[key])), key
        # The classifier KID is a mean over several classifiers, their spread reported beside it.
        assert figures[f"classifier_kid_{direction}_spread"] >= 0
        assert figures[f"white_background_inputs_{direction}"] == 0  # random tinted noise: no white backdrop
    # The untranslated ones are named by their paths in the data folders, among the held-out files only.
    for folder, key in ((data_a, "a_to_b_still_classified_a"), (data_b, "b_to_a_still_classified_b")):
        held_out = {path.name for path in split_holdout(list_images(folder, "--data"), folder, 0.25)[1]}
        assert set(figures[key]) <= held_out, key


def test_the_images_left_untranslated_are_those_most_classifiers_put_in_their_own_domain():
    """Three classifiers' logits (above 0: domain b) for three translations from a into b: the
    first called b by all three, the second by one, the third by two. Only the second is named."""
    verdicts = torch.tensor([[2.0, -1.0, 0.5], [1.0, -0.5, -0.3], [3.0, 0.2, 1.5]])
    classifiers = [lambda images, row=row: row for row in verdicts]
    translations, names = torch.zeros(3, 3, 8, 8), ["x.png", "y.png", "z.png"]
    assert still_in_own_domain(classifiers, translations, names, own_domain_is_b=False) == ["y.png"]
    # The same verdicts on translations from b into a: those called b by most are the untranslated.
    assert still_in_own_domain(classifiers, translations, names, own_domain_is_b=True) == ["x.png", "z.png"]


def test_the_domain_classifier_does_not_depend_on_the_callers_thread_count():
    """Figures in the classifier's features compare models only if the same images give the same
    classifier; trained on the caller's threads, 1 and 2 threads gave different KIDs for one model."""
    torch.manual_seed(0)
    data_a = torch.randint(0, 120, (8, 3, 64, 64), dtype=torch.uint8)
    data_b = torch.randint(100, 256, (8, 3, 64, 64), dtype=torch.uint8)
    threads_before = torch.get_num_threads()
    trained = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            trained.append(train_domain_classifier(data_a, data_b, steps=20, seed=3).state_dict())
            assert torch.get_num_threads() == threads  # the caller's count is given back
    finally:
        torch.set_num_threads(threads_before)
    assert all(torch.equal(trained[0][name], trained[1][name]) for name in trained[0])


def test_evaluate_refuses_what_is_not_a_cyclegan(tmp_path):
    folder = make_images(tmp_path / "images", count=4, seed=0)
    result = run_cli("train.evaluate", "--cyclegan", str(tmp_path / "nothing"), "--data-a", str(folder),
                     "--data-b", str(folder))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not a loadable CycleGAN export" in result.stderr


def test_cutting_the_input_path_leaves_only_the_paths_through_the_encoder():
    """With the encoder's first convolution at zero nothing of the input passes the encoder, so the
    output of the cut copy no longer depends on the input while the original, through its direct
    input path, still does. The original keeps its weights; generators without the path have none to cut."""
    torch.manual_seed(0)
    generator = CycleGenerator(conv_dim=4, n_res_blocks=1, skips="features+input").eval()
    weights_before = generator.decoder[2].weight.clone()
    cut = without_input_path(generator)
    for network in (generator, cut):
        nn.init.zeros_(network.encoder[0][0].weight)
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        first, second = cut(images).unbind()
        assert torch.equal(first, second)
        first, second = generator(images).unbind()
        assert (first - second).abs().max() > 1e-3
    assert torch.equal(generator.decoder[2].weight, weights_before)
    assert without_input_path(CycleGenerator(conv_dim=4, n_res_blocks=1, skips="features")) is None
    assert without_input_path(CycleGenerator(conv_dim=4, n_res_blocks=1, skips="none")) is None


def test_kid_subset_is_never_larger_than_either_set():
    assert kid_subset_size(5000, 2000) == KID_SUBSET_SIZE
    assert kid_subset_size(3, 2000) == 3 and kid_subset_size(2000, 7) == 7


def test_fid_and_kid_on_stand_in_weights_with_fewer_images_than_the_default_subset(stand_in_inception_weights):
    torch.manual_seed(0)
    dark = torch.randint(0, 100, (3, 3, 16, 16), dtype=torch.uint8)
    bright = torch.randint(150, 256, (2, 3, 16, 16), dtype=torch.uint8)
    figures = inception_distances(bright, dark, fid=True, kid=True, feature_weights=stand_in_inception_weights)
    assert figures["fid"] > 0 and figures["kid"] > 0  # 2 and 3 images, far below the subset of 1000


def test_feature_weights_that_are_not_plain_tensors_are_refused_in_one_line(tmp_path):
    """torch-fidelity would unpickle the file as it is; the check loads it as plain tensors first."""
    export, folder = tmp_path / "export", make_images(tmp_path / "images", count=4, seed=0, size=(16, 16))
    DCGenerator(latent_dim=8, conv_dim=4, image_size=16).save_pretrained(export)
    weights = tmp_path / "weights.pth"
    torch.save({"network": nn.Linear(2, 2)}, weights)  # a pickled module, not a state dict
    result = run_main(parse_and_run, "--dcgan", str(export), "--data", str(folder), "--kid", "--samples", "4",
                      "--feature-weights", str(weights))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--feature-weights" in result.stderr and "not a file of plain tensors" in result.stderr


def test_the_paired_comparison_tells_a_closer_set_of_features_in_every_half():
    """Translations whose features are drawn like the real ones against translations shifted away:
    the first's KID is lower on the full sets and in every one of the random halves."""
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(40, 8, generator=generator)
    close, far = torch.randn(36, 8, generator=generator), torch.randn(36, 8, generator=generator) + 1.5
    halves = random_halves(len(close), len(real), number=10)
    assert all(torch.equal(one.fakes, two.fakes) and torch.equal(one.reals, two.reals)  # the same for every caller
               for one, two in zip(halves, random_halves(len(close), len(real), number=10), strict=True))
    assert all(len(half.fakes) == 18 and len(half.reals) == 20 and len(set(half.fakes.tolist())) == 18
               for half in halves)
    per_half = differences_on_halves(close, far, real, halves)
    summary = difference_summary([kernel_distance(close, real) - kernel_distance(far, real)], per_half)
    assert summary["difference"] < 0 and summary["halves_mean"] < 0 and summary["halves_spread"] > 0
    assert (summary["halves_below_zero"], summary["halves"]) == (10, 10)


def test_evaluate_against_another_cyclegan_reports_the_paired_kid_difference(tmp_path):
    data_a = make_images(tmp_path / "red", count=16, seed=0, size=(16, 16), tint=(120, 0, 0))
    data_b = make_images(tmp_path / "blue", count=16, seed=1, size=(16, 16), tint=(0, 0, 120))
    for seed, name in ((0, "first"), (1, "second")):
        torch.manual_seed(seed)
        CycleGAN(domain_a="red", domain_b="blue", image_size=16, conv_dim=4, n_res_blocks=1).save_pretrained(
            tmp_path / name)

    def compare(model: str, other: str) -> dict:
        figures = tmp_path / "figures.json"
        result = run_main(parse_and_run, "--cyclegan", str(tmp_path / model), "--against", str(tmp_path / other),
                          "--data-a", str(data_a), "--data-b", str(data_b), "--holdout", "0.25", "--json",
                          str(figures))
        assert result.returncode == 0, result.stderr[-2000:]
        assert "against" in result.stdout and "kid_a_to_b_halves_below_zero" in result.stdout
        return next(iter(json.loads(figures.read_text()).values()))

    itself = compare("first", "first")
    for direction in ("a_to_b", "b_to_a"):  # the same model on the same classifiers and halves: no difference
        assert itself[f"kid_{direction}_difference"] == 0 and itself[f"kid_{direction}_halves_spread"] == 0
        assert itself[f"kid_{direction}_halves_below_zero"] == 0 and itself[f"kid_{direction}_halves"] == 40
    figures = compare("first", "second")
    assert (figures["images_a"], figures["images_b"]) == (4, 4)
    for direction in ("a_to_b", "b_to_a"):
        difference = figures[f"classifier_kid_{direction}"] - figures[f"other_classifier_kid_{direction}"]
        assert figures[f"kid_{direction}_difference"] == pytest.approx(difference, abs=1e-9)
        assert difference != 0 and len(figures[f"kid_{direction}_difference_per_classifier"]) == 5
        assert figures[f"kid_{direction}_halves_spread"] > 0
        assert 0 <= figures[f"kid_{direction}_halves_below_zero"] <= 40


@pytest.mark.parametrize(("arguments", "message"), [
    (["--against", "{first}", "--data-a", "{a}", "--data-b", "{b}"], "add --cyclegan"),
    (["--cyclegan", "{first}", "--against", "{first}", "--data-a", "{a}", "--data-b", "{b}", "--kid"],
     "classifier KIDs only"),
    (["--cyclegan", "{first}", "--against", "{small}", "--data-a", "{a}", "--data-b", "{b}"], "cannot be compared"),
    (["--cyclegan", "{first}", "--against", "{first}", "--data-a", "{a}", "--data-b", "{b}", "--holdout", "0.1"],
     "at least 4 test images per domain"),
    (["--cyclegan", "{first}", "--against", "{nothing}", "--data-a", "{a}", "--data-b", "{b}"],
     "not a loadable CycleGAN export"),
])
def test_evaluate_against_refuses_what_it_cannot_compare_in_one_line(tmp_path, arguments, message):
    folders = {"a": make_images(tmp_path / "red", count=16, seed=0, size=(16, 16)),
               "b": make_images(tmp_path / "blue", count=16, seed=1, size=(16, 16)),
               "first": tmp_path / "first", "small": tmp_path / "small", "nothing": tmp_path / "nothing"}
    CycleGAN(image_size=16, conv_dim=4, n_res_blocks=1).save_pretrained(folders["first"])
    CycleGAN(image_size=32, conv_dim=4, n_res_blocks=1).save_pretrained(folders["small"])
    result = run_main(parse_and_run, *(argument.format(**folders) for argument in arguments))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_the_white_backdrop_check_tells_a_kept_backdrop_from_a_blackened_one():
    """Photos of a dark subject on white, and photos without a white frame: a translation that
    keeps the frame counts as kept, one that inverts it to black does not, and images not on white
    are not counted at all."""
    on_white = torch.ones(3, 3, 32, 32)
    on_white[..., 8:24, 8:24] = -0.8  # a dark subject in the middle
    elsewhere = torch.zeros(2, 3, 32, 32)  # mid-grey all over
    inputs = torch.cat([on_white, elsewhere])
    translations = inputs.clone()
    translations[..., 8:24, 8:24] = 0.7  # the subject changes; the backdrop of every image stays
    translations[0] = -translations[0]  # this one's backdrop turned black
    figures = white_backgrounds(inputs, translations, "a_to_b")
    assert figures == {"white_background_inputs_a_to_b": 3, "white_background_kept_a_to_b": pytest.approx(2 / 3)}
    assert white_backgrounds(elsewhere, elsewhere, "b_to_a") == {"white_background_inputs_b_to_a": 0}
