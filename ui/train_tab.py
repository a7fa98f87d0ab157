"""The "Train" tab: train your own DCGAN or CycleGAN in the browser, then publish it with your Hugging
Face account. Upload images (or zips of them; a folder when the app runs on your machine), pick the
settings a student changes over a preset, start, watch the run live (its GIF and loss curves through
the Training progress tab's own handlers), stop, resume, and publish its export to your namespace;
the published model is then added to the app at that commit. The run itself is the project's
training command line in a subprocess (ui/training_jobs.py), its images are screened by
ui/training_data.py, and publishing is ui/training_publish.py.

Training is off unless the app is started with --allow-training (or GAN_DEMO_ALLOW_TRAINING=1);
then the tab only says how to train elsewhere. Public endpoints: /train_start, /train_stop,
/train_resume, /train_status, /train_delete, /train_publish; each answers with a one-line note
rather than an error, so the page shows why."""

import html
import shlex
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from gan_demo import runs as local_runs
from ui.components import CheckedNumber, CheckedText
from ui.models_tab import ModelsHandlers
from ui.progress_tab import ProgressHandlers
from ui.state import AppState
from ui.training_data import DataRefused, StoredImages, local_folder, local_folders_allowed, store_uploads
from ui.training_jobs import (
    DEFAULT_ITERS,
    IMAGE_SIZES,
    MAX_ITERS,
    TrainingJobs,
    TrainingPlan,
    TrainingRefused,
)
from ui.training_publish import PublishRefused, login_available, publish_run, token_for

REFRESH_SECONDS = 2.0
MAX_FOLDER_CHARACTERS = 4096
MAX_NAME_CHARACTERS = 100
MAX_DOMAIN_CHARACTERS = 40
SEED_LIMIT = 2**63 - 1
KIND_CHOICES = [("DCGAN: one folder of images -> new images like them", "dcgan"),
                ("CycleGAN: two folders, A and B -> translate between them", "cyclegan")]
OFF_EXPLANATION = """Training is off in this app: it runs only where its owner allows it. To train your own model:

- **Duplicate this Space** (the ⋮ menu, *Duplicate this Space*), then add the variable
  `GAN_DEMO_ALLOW_TRAINING=1` in its settings (a GPU makes it many times faster).
- **Or run the app on your machine**: `git clone` this project, `pip install -r requirements.txt`,
  then `python app.py --allow-training` and open this tab.
- **Or train in a terminal**: `python -m train.dcgan --data my-cats/ --out runs/my-dcgan --iters 2000`,
  then `python -m train.publish runs/my-dcgan --repo your-name/my-dcgan`."""
ON_EXPLANATION = (
    "Train a model on your own pictures with this project's training code. **DCGAN**: a folder of images "
    "(cats, faces, anything of one kind) becomes a generator of new ones. **CycleGAN**: two folders (A and B) "
    "become a translator between them. The run starts from the recipe of the bundled models, shortened; one "
    f"run trains at a time in this app, up to {MAX_ITERS} iterations, on at most 1000 images per folder.")


@dataclass
class TrainTab:
    """The event other tabs chain their menu refresh to (a published model joins the menus); None when
    training is off."""

    published: gr.events.Dependency | None


def build(state: AppState, demo: gr.Blocks, allowed: bool) -> TrainTab:
    """Lay out the tab inside the open `demo` and wire its events; only the explanation when not `allowed`."""
    if not allowed:
        gr.Markdown(OFF_EXPLANATION, elem_id="train-off")
        return TrainTab(None)
    if state.runs_root is None:  # an app state built without a runs folder
        gr.Markdown("Training needs a runs folder: start the app with `--runs DIR`.", elem_id="train-off")
        return TrainTab(None)
    handlers = TrainHandlers(state, TrainingJobs(state.runs_root))
    local = local_folders_allowed()
    gr.Markdown(ON_EXPLANATION)
    with gr.Row():
        kind = gr.Radio(KIND_CHOICES, value="dcgan", label="model", elem_id="train-kind", min_width=300)
        name = CheckedText(value="my-dcgan", label="run name", max_length=MAX_NAME_CHARACTERS, elem_id="train-name",
                           min_width=200)
    with gr.Row():
        with gr.Column(min_width=300):
            uploads_a = gr.File(file_count="multiple", file_types=["image", ".zip"], type="filepath",
                                label="images (or zips of images)", elem_id="train-images-a", height=160)
            folder_a = CheckedText(label="or a folder on this machine", max_length=MAX_FOLDER_CHARACTERS,
                                   visible=local, elem_id="train-folder-a")
            name_a = CheckedText(value="A", label="name of A (e.g. apple)", max_length=MAX_DOMAIN_CHARACTERS,
                                 visible=False, elem_id="train-name-a")
        with gr.Column(min_width=300, visible=False) as domain_b:
            uploads_b = gr.File(file_count="multiple", file_types=["image", ".zip"], type="filepath",
                                label="images B (or zips of images)", elem_id="train-images-b", height=160)
            folder_b = CheckedText(label="or a folder B on this machine", max_length=MAX_FOLDER_CHARACTERS,
                                   visible=local, elem_id="train-folder-b")
            name_b = CheckedText(value="B", label="name of B (e.g. orange)", max_length=MAX_DOMAIN_CHARACTERS,
                                 elem_id="train-name-b")
    with gr.Accordion("Settings", open=True):
        with gr.Row():
            iters = CheckedNumber(value=DEFAULT_ITERS["dcgan"], minimum=1, maximum=MAX_ITERS, precision=0,
                                  label="iterations", elem_id="train-iters", min_width=120)
            image_size = gr.Dropdown(list(IMAGE_SIZES), value=64, label="image size (px)", elem_id="train-size",
                                     min_width=120)
            seed = CheckedNumber(value=0, minimum=0, maximum=SEED_LIMIT, precision=0, label="seed",
                                 elem_id="train-seed", min_width=120)
        with gr.Row():
            aug = gr.Radio(["basic", "deluxe"], value="basic", label="augmentation",
                           info="deluxe: random crops, flips and colour jitter of the real images")
            diffaug = gr.Checkbox(False, label="DiffAugment", info="augment real and generated images alike "
                                                                   "(helps with few images)")
        command = gr.Markdown(handlers.command_preview("dcgan", "my-dcgan", DEFAULT_ITERS["dcgan"], 64, "basic",
                                                       False, 0), elem_id="train-command")
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="train-start", min_width=120)
        stop = gr.Button("Stop", variant="stop", elem_id="train-stop", min_width=80)
        resume = gr.Button("Resume", elem_id="train-resume", min_width=80)
        delete = gr.Button("Delete run", elem_id="train-delete", min_width=80)
    note = gr.Markdown(elem_id="train-note")
    runs = handlers.jobs.tab_runs()
    run = gr.Dropdown(runs, value=handlers.jobs.current() or (runs[0] if runs else None), label="run",
                      elem_id="train-run", allow_custom_value=True)
    status = gr.Markdown(elem_id="train-status")
    with gr.Row():
        with gr.Column(min_width=300):
            gr.Markdown("**Progress GIF** (fixed latents / inputs)")
            gif = gr.Image(show_label=False, interactive=False, elem_id="train-gif", elem_classes=["pixelated"])
        with gr.Column(min_width=300):
            losses = gr.LinePlot(x="iteration", y="loss", color="term", label="losses (moving average)",
                                 elem_id="train-losses")
    with gr.Accordion("What the training command printed", open=False):
        output = gr.Textbox(show_label=False, lines=8, max_lines=8, interactive=False, elem_id="train-output")
    gr.Markdown("### Publish to the Hugging Face Hub\nThe run's model goes to a new repo in your namespace "
                "(public), and joins this app's menus at that commit. The token is used for this one request "
                "and never stored.")
    with gr.Row():
        if login_available():
            gr.LoginButton(elem_id="train-login", min_width=200)
        repo_name = CheckedText(label="repo name", placeholder="my-dcgan", max_length=MAX_NAME_CHARACTERS,
                                elem_id="train-repo", min_width=200)
        token = CheckedText(label="or paste a token (write access)", type="password", max_length=200,
                            elem_id="train-token", min_width=200)
        publish = gr.Button("Publish", elem_id="train-publish", min_width=100)
    publish_note = gr.Markdown(elem_id="train-publish-note")
    timer = gr.Timer(REFRESH_SECONDS, active=False)

    settings = [kind, name, iters, image_size, aug, diffaug, seed, name_a, name_b]
    kind.change(handlers.kind_chosen, kind, [domain_b, name_a, iters, name], api_visibility="private")
    gr.on([field.change for field in settings], handlers.command_preview, settings, command,
          api_visibility="private", trigger_mode="always_last")
    start.click(handlers.start, [*settings, uploads_a, uploads_b, folder_a, folder_b], [note, run, timer],
                api_name="train_start", concurrency_id="train", concurrency_limit=1)
    stop.click(handlers.stop, None, note, api_name="train_stop")
    resume.click(handlers.resume, run, [note, timer], api_name="train_resume", concurrency_id="train",
                 concurrency_limit=1)
    delete.click(handlers.delete, run, [note, run], api_name="train_delete", concurrency_id="train",
                 concurrency_limit=1)
    follow_outputs = [status, gif, losses, output, timer]
    # The curves' colours follow their data, as in the Training progress tab: gradio 6.31's plot builds its
    # colour scale from the data it holds only when the colour map changes.
    gr.on([run.change, timer.tick], handlers.follow, run, follow_outputs, api_name="train_status",
          concurrency_id="progress", show_progress="hidden").then(
        handlers.plot_colours, run, losses, api_visibility="private", show_progress="hidden")
    demo.load(handlers.follow_current, None, [run, timer], api_visibility="private")
    published = publish.click(handlers.publish, [run, repo_name, token], [publish_note, token],
                              api_name="train_publish", concurrency_id="publish", concurrency_limit=1)
    return TrainTab(published)


class TrainHandlers:
    """The tab's handlers over the app state and its training jobs."""

    def __init__(self, state: AppState, jobs: TrainingJobs) -> None:
        self.state, self.jobs = state, jobs
        self.view = ProgressHandlers(state)  # the Training progress tab's own reading of a run

    def kind_chosen(self, kind: str) -> tuple:
        """Folder B and the domains' names only for a CycleGAN, and the kind's default length and run name."""
        cyclegan = kind == "cyclegan"
        return gr.Column(visible=cyclegan), gr.Textbox(visible=cyclegan), \
            DEFAULT_ITERS.get(kind, DEFAULT_ITERS["dcgan"]), f"my-{kind}" if kind in DEFAULT_ITERS else gr.skip()

    def command_preview(self, kind: str, name: str | None, iters: float | None, image_size: int, aug: str,
                        diffaug: bool, seed: float | None, name_a: str | None = "A", name_b: str | None = "B") -> str:
        """The command line Start will run, with the preset spelled out."""
        try:
            plan = plan_of(kind, name or "NAME", iters, image_size, aug, diffaug, seed, name_a, name_b)
            folders = [Path("YOUR-IMAGES")] if kind == "dcgan" else [Path("IMAGES-A"), Path("IMAGES-B")]
            arguments = plan.arguments(Path("runs") / plan.name, folders)
        except (KeyError, TypeError, ValueError):
            return ""
        return f"This runs:\n\n```\npython {shlex.join(arguments)}\n```"

    def start(self, kind: str, name: str | None, iters: float | None, image_size: int, aug: str, diffaug: bool,
              seed: float | None, name_a: str | None, name_b: str | None, uploads_a: list[str] | None,
              uploads_b: list[str] | None, folder_a: str | None, folder_b: str | None) -> tuple:
        """/train_start: check the settings, screen and store the images, and start the run."""
        try:
            plan = plan_of(kind, name, iters, image_size, aug, diffaug, seed, name_a, name_b)
            destinations = self.jobs.prepare(plan)
        except (TrainingRefused, TypeError, ValueError) as error:
            return refused("Cannot start", error), gr.skip(), gr.skip()
        try:
            sources = list(zip((uploads_a, uploads_b), (folder_a, folder_b), strict=True))[:len(destinations)]
            images = [images_from(uploads, folder, destination)
                      for (uploads, folder), destination in zip(sources, destinations, strict=True)]
            self.jobs.start(plan, [stored.folder for stored in images])
        except (DataRefused, TrainingRefused) as error:
            self.jobs.discard(plan.name)
            return refused("Cannot start", error), gr.skip(), gr.skip()
        received = " and ".join(stored.summary() for stored in images)
        return (f"Started `{plan.name}` on {html.escape(received)}.",
                gr.Dropdown(self.jobs.tab_runs(), value=plan.name), gr.Timer(active=True))

    def stop(self) -> str:
        """/train_stop: the running job saves its state and stops (a second stop: at once)."""
        return self.jobs.stop()

    def resume(self, run: str | None) -> tuple:
        """/train_resume: continue `run` from its saved state."""
        try:
            self.jobs.resume(run or "")
        except TrainingRefused as error:
            return refused("Cannot resume", error), gr.skip()
        return f"Resuming `{run}` from its saved state.", gr.Timer(active=True)

    def delete(self, run: str | None) -> tuple:
        """/train_delete: remove `run`'s folder and the images the app stored for it."""
        try:
            self.jobs.delete(run or "")
        except TrainingRefused as error:
            return refused("Cannot delete", error), gr.skip()
        runs = self.jobs.tab_runs()
        return f"Deleted `{run}` and its images.", gr.Dropdown(runs, value=runs[0] if runs else None)

    def follow_current(self) -> tuple:
        """On page load: the run training now (else the newest), followed while it trains."""
        runs = self.jobs.tab_runs()
        current = self.jobs.current()
        return gr.Dropdown(runs, value=current or (runs[0] if runs else None)), gr.Timer(active=current is not None)

    def follow(self, run: str | None) -> tuple:
        """/train_status: (where `run` stands, its GIF, its loss curves, what its command printed, the timer:
        on while it trains)."""
        status = self.jobs.status(run)
        live = status.state in ("starting", "training", "stopping")
        # No curves yet: an empty table, not None, which makes gradio 6.31's plot fail in the browser.
        gif, losses = None, pd.DataFrame({"iteration": [], "loss": [], "term": []})
        if status.state != "none":
            name = local_runs.RUN_PREFIX + status.name
            try:
                record = self.view.run_progress(name)
                gif, _, losses, _, _ = self.view.show_progress(name, record.steps[-1])
            except gr.Error:  # before the run's first sample
                pass
        return status.markdown(), gif, losses, self.jobs.output(run), gr.Timer(active=live)

    def plot_colours(self, run: str | None) -> gr.LinePlot:
        """The loss plot's colour map for `run`'s terms (the Training progress tab's), sent after the data."""
        try:
            return self.view.plot_colours(local_runs.RUN_PREFIX + (run or ""))
        except gr.Error:  # no curves yet
            return gr.skip()

    def publish(self, run: str | None, repo_name: str | None, token: str | None,
                signed_in: gr.OAuthToken | None = None) -> tuple[str, str]:
        """/train_publish: push `run`'s export to <your namespace>/<repo_name> (default: the run's name) and
        add it to the app at that commit. The token box is emptied whatever happens."""
        try:
            status = self.jobs.status(run)
            if status.state == "none" or run not in self.jobs.tab_runs():
                raise PublishRefused("choose a run made in this tab")
            if status.state in ("starting", "training", "stopping"):
                raise PublishRefused(f"{run} is training: publish it once it has finished or stopped")
            if local_runs.export_kind(self.state.runs_root / run) is None:
                raise PublishRefused(f"{run} has no exported model yet (it is written at the first checkpoint)")
            secret = token_for(token, signed_in.token if signed_in else None)
            repo_id, commit = publish_run(self.state.runs_root / run, (repo_name or "").strip() or run, secret)
        except PublishRefused as error:
            return refused("Cannot publish", error), ""
        try:
            added = ModelsHandlers(self.state).add_model(repo_id, commit)
        except gr.Error as error:
            added = f"It could not be added to this app: {error.message}"
        return f"Published `{repo_id}` at commit `{commit}`. {added}", ""


def plan_of(kind: str, name: str | None, iters: float | None, image_size: int, aug: str, diffaug: bool,
            seed: float | None, name_a: str | None, name_b: str | None) -> TrainingPlan:
    """The plan from the fields; TypeError or ValueError for values no field of the page sends."""
    return TrainingPlan(kind=kind, name=(name or "").strip(), iters=int(iters if iters is not None else 0),
                        image_size=int(image_size), aug=aug, diffaug=bool(diffaug),
                        seed=int(seed if seed is not None else 0), name_a=(name_a or "").strip(),
                        name_b=(name_b or "").strip())


def images_from(uploads: list[str] | None, folder: str | None, destination: Path) -> StoredImages:
    """A folder on this machine when one is named, else the uploads stored in `destination`."""
    if folder and folder.strip():
        return local_folder(folder)
    return store_uploads(list(uploads or []), destination)


def refused(title: str, error: Exception) -> str:
    return f"**{title}:** {html.escape(str(error))}"
