"""GPU side of Lookalike: the image generator, the CLIP scorer and the worker that runs them."""
