"""The Gradio side of gan-demo: `demo.build_demo` assembles one tab per module (sample_tab, translate_tab,
progress_tab, models_tab) over one `state.AppState`; `components` holds the screened inputs,
`gradio_fixes` every change to Gradio's own behaviour, `served_files` the only files visitors receive."""
