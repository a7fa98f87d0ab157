"""gan-demo's Gradio app, the Spaces entry point: sample cats from the DCGAN variants with latent-direction
sliders, translate images with the CycleGANs, and watch how every model learned. The tabs live in `ui/`
(one module each, over one explicit app state); the models and every computation in `gan_demo`.
Public API endpoints: /sample, /interpolate, /project, /translate, /progress, /add_model.

    python app.py               # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it)
    python app.py --runs runs   # also every training run under runs/ (or GAN_DEMO_RUNS=runs), live
    python app.py --allow-training  # the Train tab trains (or GAN_DEMO_ALLOW_TRAINING=1), into runs/browser
"""

import os

if __name__ == "__main__":  # OpenMP reads this once, when torch loads it: idle threads sleep, not spin
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (docs/performance.md)

import argparse
import logging

from starlette.middleware import Middleware

from gan_demo import inference, runtime
from gan_demo import runs as local_runs
from ui.demo import CSS, build_demo
from ui.gradio_fixes import RequestLimit


def launch(argv: list[str] | None = None) -> None:
    """Parse the command line, set threads and precision, build the app and serve it."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the gan-demo app.")
    parser.add_argument("--runs", help=f"a folder of training runs to show live (default: ${local_runs.RUNS_VARIABLE})")
    parser.add_argument("--precision", choices=runtime.DRAWING_PRECISIONS, default="auto",
                        help="what the models draw in: auto is bf16 where the CPU has native bfloat16 (AMX), "
                             "several times faster, pixels within a few of 255 levels of fp32's")
    parser.add_argument("--allow-training", action="store_true",
                        help="let visitors train and publish models in the Train tab, one run at a time, into the "
                             "runs folder (default runs/browser); also GAN_DEMO_ALLOW_TRAINING=1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("gan_demo").setLevel(logging.INFO)
    runtime.configure(threads=runtime.serving_threads())  # one per request unless OMP_NUM_THREADS; denormals
    precision = runtime.set_drawing_precision(args.precision)
    logging.getLogger("gan_demo").info("the models draw in %s (--precision %s)", precision, args.precision)
    demo = build_demo(args.runs, allow_training=args.allow_training)
    # Host and port: gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default 127.0.0.1:7860). No
    # allowed_paths: every file a response names is a copy in the app's own folder (ui/served_files.py).
    demo.launch(max_file_size=inference.MAX_UPLOAD_BYTES, css=CSS,
                app_kwargs={"middleware": [Middleware(RequestLimit)]})


if __name__ == "__main__":
    launch()
