"""Where a learned prior may go in an invert job. A prior (an energy, or a score prior's
denoiser) models one space with a fixed number of channels: the image (the representation's
input, 1 channel grey or 3 RGB) or one layer's feature map of one representation. The term
that uses it (its *slot*) must be that space: a grey prior scoring a colour image, or an image
prior placed on a feature map, runs but optimises the wrong thing. :func:`check_prior_slot`
refuses such a term before any step, naming both spaces; every prior variant calls it
(:mod:`preimage.train.config.learned`, the score priors) with the prior's ``channels`` and
``layer`` and the slot's, read off the job (:func:`slot_channels`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from preimage.representations.errors import PreimageError

if TYPE_CHECKING:  # pragma: no cover
    from preimage.train.config.invert import BuildContext


def _channels(c: int, image: bool, sep: str = " (", end: str = ")") -> str:
    kind = ("grey" if c == 1 else "RGB" if c == 3 else "") if image else ""
    return f"{c} channel{'s' * (c != 1)}" + (f"{sep}{kind}{end}" if kind else "")


def _space(layer: str | None, representation: str | None) -> str:
    if layer is None:
        return "the image"
    return f"{representation} {layer}" if representation else f"layer {layer}"


def slot_channels(ctx: BuildContext, layer: str | None) -> int:
    """Channels of the space ``layer`` (None: the image) in the job: the representation's input
    channels, or the channels of Φ(x₀) at that layer."""
    if layer is None:
        return int(ctx.representation.convention.channels)
    return int(ctx.phi0[layer].shape[1])


def check_prior_slot(name: str, prior_channels: int | None, prior_layer: str | None, slot_channels: int | None,
                     slot_layer: str | None, *, prior: str = "the prior", prior_representation: str | None = None,
                     slot_representation: str | None = None) -> None:
    """Refuse a prior whose space is not its slot's: another layer (or the image for a
    feature-map prior, and the reverse), another representation's feature map, or another
    number of channels. ``name``: the config key (``priors.foe``); ``prior``: how to name the
    prior (``'foe-grey'``); what is ``None`` on the slot's side (channels before Φ(x₀) is known,
    the representation) is not checked."""
    where = _space(prior_layer, prior_representation)
    if prior_layer != slot_layer:
        chans = f" ({_channels(prior_channels, prior_layer is None, ', ', '')})" if prior_channels is not None else ""
        raise PreimageError(f"{name}: prior {prior} was trained on {where}{chans}, not on "
                            f"{_space(slot_layer, slot_representation)}; leave the learned prior's layer unset "
                            f"(it is taken from the prior) or give a prior trained there")
    if prior_layer is not None and slot_representation is not None \
            and prior_representation not in (None, slot_representation):
        raise PreimageError(f"{name}: prior {prior} was trained on {where}, but the job inverts "
                            f"{slot_representation}; use a prior of this representation")
    if prior_channels is not None and slot_channels is not None and prior_channels != slot_channels:
        slot = (f"{slot_representation}'s input image" if slot_layer is None and slot_representation
                else _space(slot_layer, slot_representation))
        image = slot_layer is None
        raise PreimageError(f"{name}: prior {prior} has {_channels(prior_channels, image)} on {where}, but its slot, "
                            f"{slot}, has {_channels(slot_channels, image)}; use a prior with "
                            f"{_channels(slot_channels, False)} on {_space(slot_layer, slot_representation)} "
                            f"('preimage prior list' shows each prior's space and channels)")
