"""The image pool of past fakes (Shrivastava et al. 2017, used by CycleGAN): the discriminator is
updated on a mix of the generator's newest fakes and ones it made a while ago, so it cannot just
chase the generator's latest mode and the two networks oscillate less. Per image, once the pool is
full: with probability 1/2 the pool hands back a stored fake and keeps the new one in its place,
otherwise it hands back the new fake. Until it is full, it stores and returns every new fake.
Randomness comes from an explicit `torch.Generator`; the contents are one tensor, so they go into
state.pt as they are and a resumed run draws exactly what an uninterrupted one would.
"""

import torch

SWAP_PROBABILITY = 0.5


class ImagePool:
    """Up to `size` past fakes; size 0 turns the pool off (`query` returns its input)."""

    def __init__(self, size: int):
        self.size = size
        self.images = torch.empty(0)  # (n <= size, 3, H, W) once the first fakes arrive

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """New fakes (B, 3, H, W) -> the fakes to show D (B, 3, H, W), detached from the generator."""
        images = images.detach()
        if self.size == 0:
            return images
        # Draw the same numbers on every call, filling or not, so the random stream does not
        # depend on how full the pool is; one .tolist() each keeps GPU syncs to two per call.
        device = generator.device
        swaps = (torch.rand(len(images), generator=generator, device=device) < SWAP_PROBABILITY).tolist()
        slots = torch.randint(0, self.size, (len(images),), generator=generator, device=device).tolist()
        stored = list(self.images.to(images.device))
        shown = []
        for image, swap, slot in zip(images, swaps, slots, strict=True):
            if len(stored) < self.size:
                stored.append(image)
                shown.append(image)
            elif swap:
                shown.append(stored[slot])
                stored[slot] = image
            else:
                shown.append(image)
        self.images = torch.stack(stored)
        return torch.stack(shown)
