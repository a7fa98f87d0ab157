"""Training for gan-demo: `python -m train.dcgan`, `python -m train.cyclegan` and
`python -m train.publish`. The loops use gan_demo's networks, pixel conventions and GIF rendering;
this package adds the discriminators, losses, augmentations, data loading, plots, model cards, the
run folder (config, resume state, samples, losses, export) and the command lines. Nothing imports
it, so the app never drags training code along."""
