"""A Representation built from an ordered chain of named layers (CaffeNet, AlexNet,
VGG16, SqueezeNet): every layer is a tap, the chain is cut after the deepest tap."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from preimage.representations.base import InputConvention, ReceptiveField, Representation
from preimage.representations.receptive import compose, min_input, window_of


class TappedSequential(Representation):
    """``layers`` are the names of the chain's modules, in order.

    Only the modules up to the deepest requested tap are kept (``self.body``), so
    state-dict keys are ``body.<layer>.<param>``.
    """

    def __init__(
        self,
        name: str,
        chain: Sequence[tuple[str, nn.Module]],
        taps: Sequence[str] | str | None,
        convention: InputConvention,
        input_size: int,
    ) -> None:
        super().__init__()
        self._name = name
        self.layers = [n for n, _ in chain]
        self.convention = convention
        self.input_size = input_size
        self._all_modules = [m for _, m in chain]  # plain list: not registered, not truncated
        self.taps = self.resolve_taps(taps)
        depth = self.layers.index(self.deepest_tap) + 1
        self.body = nn.Sequential()
        for n, m in chain[:depth]:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # both conv and relu outputs may be taps
            self.body.add_module(n, m)
        self._rf = {}
        rf = ReceptiveField(1, 1, 0.0)
        for n, m in chain:
            rf = compose(rf, window_of(m))
            self._rf[n] = rf
        self.freeze()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        wanted = set(self.taps)
        for n, m in self.body.named_children():
            x = m(x)
            if n in wanted:
                out[n] = x
        return out

    def receptive_field(self, name: str) -> ReceptiveField:
        self.check_layer(name)
        return self._rf[name]

    def min_input_size(self, layer: str) -> int:
        self.check_layer(layer)
        return min_input(self._all_modules[: self.layers.index(layer) + 1])

    def with_taps(self, taps: Sequence[str] | str | None) -> "TappedSequential":
        """A new representation sharing this one's modules, with other taps."""
        chain = list(zip(self.layers, self._all_modules))
        return TappedSequential(self._name, chain, taps, self.convention, self.input_size)
