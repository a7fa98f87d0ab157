"""The floor of the app benchmark: a Gradio app that does no work, launched the same way as app.py
(`python benchmarks/trivial_app.py SAMPLE_PNG`, host and port from GRADIO_SERVER_NAME /
GRADIO_SERVER_PORT, the same queue settings). `/sample` takes as many inputs as the app's and
returns SAMPLE_PNG (a grid of the size the app returns); `/translate` returns its uploaded image
three times. Whatever a round trip through it costs is Gradio, HTTP and PNG encoding, not the models.
"""

import sys

import gradio as gr
from PIL import Image

SAMPLE_INPUTS = 10  # variant, seed, truncation, count and six direction sliders, as in app.py


def build_floor(sample_grid: Image.Image) -> gr.Blocks:
    with gr.Blocks(analytics_enabled=False) as demo:
        sample_values = [gr.Textbox()] + [gr.Number() for _ in range(SAMPLE_INPUTS - 1)]
        grid, note = gr.Image(format="png"), gr.Markdown()
        gr.Button().click(lambda *values: (sample_grid, "note"), sample_values, [grid, note], api_name="sample")
        upload, direction, resolution = gr.Image(type="pil"), gr.Textbox(), gr.Textbox()
        outputs = [gr.Image(format="png") for _ in range(3)] + [gr.Markdown()]
        gr.Button().click(lambda image, *choices: (image, image, image, "note"), [upload, direction, resolution],
                          outputs, api_name="translate")
    demo.queue(max_size=32, default_concurrency_limit=2)  # as app.py
    return demo


if __name__ == "__main__":
    build_floor(Image.open(sys.argv[1]).convert("RGB")).launch()
