"""A sibling module of the test model's model.py: external model folders may split their code
(model.py imports it relatively, as a package)."""

from torch import nn


class ConvReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())
