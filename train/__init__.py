"""Training for gan-demo: `python -m train.dcgan`, `python -m train.cyclegan` and
`python -m train.publish`. The loops use gan_demo's networks, pixel conventions and GIF rendering;
this package adds the discriminators, losses, augmentations, data loading, plots, model cards, the
run folder (config, resume state, samples, losses, export) and the command lines. Nothing imports
it, so the app never drags training code along."""

import sys

from train.errors import exit_quietly_on_stop_signals

# While `python -m` imports this package (argv[0] is "-m" until the script itself starts), one of
# the scripts is starting: importing torch takes seconds, and Ctrl-C then should not print a traceback.
if sys.argv[:1] == ["-m"]:
    exit_quietly_on_stop_signals()
