"""Training for gan-demo: `python -m train.dcgan`, `python -m train.cyclegan` and
`python -m train.publish`. The loops use gan_demo's networks, augmentations and rendering; this
package adds data loading, the run folder (config, resume state, samples, losses, export) and the
command lines. Nothing imports it, so the app never drags training code along."""

import gan_demo  # noqa: F401  (first: its OpenMP setting must precede the import of torch)
