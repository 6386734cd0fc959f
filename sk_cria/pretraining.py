"""ViewMaskPretrainer: self-supervised pre-training of CRIA as a transformer.

Design section 6: for each example one of the three views (temporal, spatial,
spectral) is replaced by a learned placeholder; the masked and the unmasked
example are encoded, projected, and pulled together by an InfoNCE loss that
pushes the other examples of the batch apart. ``transform`` returns the frozen
embeddings of the encoder.
"""

import numpy as np
import torch
from skorch import NeuralNet
from sklearn.base import TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from . import _net

__all__ = ["InfoNCELoss", "ViewMaskPretrainer", "make_token_mask"]

MASKINGS = ("view", "token", "spatial_block")
N_VIEWS = 3


def make_token_mask(masking, batch_size, n_channels, n_patches, ratio, generator=None,
                    channel_order=None, device=None):
    """Build the boolean token mask ``(batch, 3, n_channels, n_patches)`` of a strategy.

    Parameters
    ----------
    masking : {"view", "token", "spatial_block"}
        ``"view"``: one whole view per example, chosen uniformly (CRIA).
        ``"token"``: each token of each view independently with probability
        ``ratio``. ``"spatial_block"``: S-JEPA's contiguous block of about
        ``ratio * n_channels`` neighbouring channels, in every view and patch.
    batch_size, n_channels, n_patches : int
    ratio : float
        Fraction masked by ``"token"`` and ``"spatial_block"``.
    generator : torch.Generator or None
    channel_order : LongTensor of shape (n_channels, n_channels) or None
        For ``"spatial_block"``: row ``c`` lists the channels by distance from
        channel ``c`` (nearest first). None uses index order as the neighbourhood.
    device : torch.device or None

    Returns
    -------
    mask : BoolTensor of shape (batch, 3, n_channels, n_patches)
    """
    shape = (batch_size, N_VIEWS, n_channels, n_patches)
    if masking == "view":
        view = torch.randint(N_VIEWS, (batch_size,), generator=generator)
        mask = F.one_hot(view, N_VIEWS).bool()[:, :, None, None]
        return mask.expand(shape).to(device).contiguous()
    if masking == "token":
        return (torch.rand(shape, generator=generator) < ratio).to(device)
    if masking == "spatial_block":
        n_block = max(1, int(round(ratio * n_channels)))
        if channel_order is None:
            channel_order = _index_order(n_channels)
        centre = torch.randint(n_channels, (batch_size,), generator=generator)
        blocks = channel_order[centre, :n_block]  # (batch, n_block)
        channels = torch.zeros(batch_size, n_channels, dtype=torch.bool)
        channels.scatter_(1, blocks, True)
        return channels[:, None, :, None].expand(shape).to(device).contiguous()
    raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}.")


def _index_order(n_channels):
    idx = torch.arange(n_channels)
    return (idx[None, :] - idx[:, None]).abs().argsort(dim=1, stable=True)


def channel_neighbour_order(ch_names):
    """Channels sorted by scalp distance from each channel (MNE's template 10-05 positions).

    Channels without a known position fall back to index order.
    """
    import mne

    from .channels import normalize_channel_name

    # MNE 1.13 renamed "standard_1005" (the same template head) to "colin27_1005".
    builtin = mne.channels.get_builtin_montages()
    name = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"
    montage = mne.channels.make_standard_montage(name)
    positions = {name.lower(): pos for name, pos in montage.get_positions()["ch_pos"].items()}
    coords = []
    for name in ch_names:
        norm = normalize_channel_name(name)
        pos = positions.get(norm.split("-")[0].lower()) if norm else None
        coords.append(pos)
    if any(p is None for p in coords):
        return _index_order(len(ch_names))
    coords = torch.as_tensor(np.array(coords), dtype=torch.float32)
    return torch.cdist(coords, coords).argsort(dim=1, stable=True)


class InfoNCELoss(nn.Module):
    """Symmetric InfoNCE between two batches of projections.

    Row ``i`` of ``z_a`` and row ``i`` of ``z_b`` are the positive pair; every
    other row of the batch is a negative.

    Parameters
    ----------
    temperature : float, default=0.1
    """

    def __init__(self, temperature=0.1):
        super().__init__()
        self.temperature = temperature

    def forward(self, z_a, z_b):
        z_a = F.normalize(z_a.float(), dim=-1)
        z_b = F.normalize(z_b.float(), dim=-1)
        logits = z_a @ z_b.T / self.temperature
        target = torch.arange(len(z_a), device=z_a.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class _ViewMaskModule(nn.Module):
    """CRIA encoder + projection head; forward returns the two projections."""

    def __init__(self, encoder, projection_dim=128, masking="view", mask_ratio=0.5):
        super().__init__()
        self.encoder = encoder
        width = encoder.config.embed_dim
        self.projector = nn.Sequential(
            nn.Linear(width, width), nn.GELU(), nn.Linear(width, projection_dim)
        )
        self.masking = masking
        self.mask_ratio = mask_ratio
        self.channel_order = None
        self._ch_names = None

    @property
    def ch_names(self):
        return self._ch_names

    @ch_names.setter
    def ch_names(self, ch_names):
        self._ch_names = None if ch_names is None else list(ch_names)
        if self.masking == "spatial_block" and ch_names is not None:
            self.channel_order = channel_neighbour_order(self._ch_names)

    def forward(self, x):
        batch, n_channels, n_times = x.shape
        n_patches = n_times // self.encoder.config.patch_size
        mask = make_token_mask(
            self.masking, batch, n_channels, n_patches, self.mask_ratio,
            channel_order=self.channel_order, device=x.device,
        )
        masked = self.encoder.encode(x, self.ch_names, token_mask=mask).embedding
        full = self.encoder.encode(x, self.ch_names).embedding
        return self.projector(masked), self.projector(full)

    def embed(self, x):
        return self.encoder(x, self.ch_names)


class ViewMaskPretrainer(TransformerMixin, _net.CRIANetMixin, NeuralNet):
    """Pre-train a CRIA encoder without labels; transform EEG into embeddings.

    ``fit`` trains the encoder by view-wise masking and contrastive alignment
    (skorch's training loop: ``history``, callbacks and ``set_params`` work as
    in any skorch net). ``transform`` embeds examples with the frozen encoder,
    in eval mode, in batches, without gradients. Put a scikit-learn classifier
    after it for linear probing::

        Pipeline([EEGPreprocessor(...), ViewMaskPretrainer(), LogisticRegression()])

    Parameters
    ----------
    config : None, "default", "small", dict or CRIAConfig, default=None
        Encoder architecture (see :class:`sk_cria.model.CRIAConfig`); None is
        the default preset. Ignored when ``checkpoint`` is given.
    checkpoint : str or path-like or None, default=None
        Start from the encoder saved in this directory (``save_pretrained``);
        with ``max_epochs=0`` the checkpoint is used as it is.
    masking : {"view", "token", "spatial_block"}, default="view"
        What is hidden from the encoder: a whole view (CRIA), random tokens,
        or S-JEPA's block of neighbouring channels.
    mask_ratio : float, default=0.5
        Fraction hidden by "token" and "spatial_block" masking.
    temperature : float, default=0.1
        InfoNCE temperature.
    projection_dim : int, default=128
        Width of the contrastive projection head (dropped after training).
    ch_names : list of str or None, default=None
        Channel names when X carries none (an EEGPreprocessor before this step
        passes them on).
    random_state : int or None, default=None
        Seeds weight initialisation, masking and batch order (reproducible on
        the CPU).
    lr : float, default=1e-3
    max_epochs : int, default=10
    batch_size : int, default=64
    optimizer : torch optimizer class, default=torch.optim.AdamW
    device : str, default="auto"
        "auto" uses CUDA (with bf16 mixed precision) when present, else the CPU.
    verbose : int, default=0
        1 prints the loss per epoch and a progress bar with rate and ETA.
    **kwargs
        Any other skorch ``NeuralNet`` parameter (``callbacks``,
        ``optimizer__weight_decay``, ``iterator_train__num_workers``, ...).

    Attributes
    ----------
    encoder_ : sk_cria.model.CRIA
        The pre-trained encoder.
    ch_names_ : list of str
        Channel names seen at fit.
    n_channels_in_ : int
    n_features_in_ : int
    history_ : skorch.History
        Loss per epoch and batch (also as ``history``).

    See Also
    --------
    CRIAClassifier : fine-tunes an encoder pre-trained here.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria import ViewMaskPretrainer
    >>> X = np.random.default_rng(0).normal(size=(32, 3, 400)).astype("float32")
    >>> pre = ViewMaskPretrainer(config="small", max_epochs=1, ch_names=["C3", "Cz", "C4"],
    ...                          random_state=0).fit(X)
    >>> pre.transform(X).shape[0]
    32
    """

    def __init__(
        self,
        module=_ViewMaskModule,
        *,
        config=None,
        checkpoint=None,
        masking="view",
        mask_ratio=0.5,
        temperature=0.1,
        projection_dim=128,
        ch_names=None,
        random_state=None,
        criterion=InfoNCELoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        max_epochs=10,
        batch_size=64,
        train_split=None,
        device="auto",
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
            device=device, verbose=verbose, **kwargs,
        )
        self.config = config
        self.checkpoint = checkpoint
        self.masking = masking
        self.mask_ratio = mask_ratio
        self.temperature = temperature
        self.projection_dim = projection_dim
        self.ch_names = ch_names
        self.random_state = random_state

    # ----------------------------------------------------------- skorch hooks
    def initialize_module(self):
        if self.masking not in MASKINGS:
            raise ValueError(f"masking must be one of {MASKINGS}, got {self.masking!r}.")
        if self.checkpoint is not None:
            encoder = _net.load_encoder(self.checkpoint)
        else:
            from .model import CRIA

            encoder = CRIA(_net.build_encoder_config(self.config))
        self.module_ = self.module(
            encoder, projection_dim=self.projection_dim, masking=self.masking,
            mask_ratio=self.mask_ratio, **self.get_params_for("module"),
        ).to(self.device)
        return self

    def initialize_criterion(self):
        kwargs = {"temperature": self.temperature, **self.get_params_for("criterion")}
        self.criterion_ = self.criterion(**kwargs)
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(*y_pred)

    # ----------------------------------------------------------- public API
    def fit(self, X, y=None, **fit_params):
        """Pre-train the encoder on X (labels, if given, are ignored).

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times)
            Preprocessed EEG at 200 Hz (the output of EEGPreprocessor, which
            also carries the channel names).
        y : None
            Ignored: pre-training uses no labels.

        Returns
        -------
        self : ViewMaskPretrainer
        """
        X, names = _net.check_eeg_array(self, X, reset=True)
        _net.resolve_ch_names(self, names, X.shape[1], reset=True)
        return self._train(X, None, reset=True, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue pre-training on X for ``max_epochs`` more epochs."""
        if not getattr(self, "initialized_", False):
            return self.fit(X, y, **fit_params)
        X, names = _net.check_eeg_array(self, X, reset=False)
        _net.resolve_ch_names(self, names, X.shape[1], reset=False)
        return self._train(X, None, reset=False, **fit_params)

    def transform(self, X):
        """Embed X with the frozen encoder.

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times)

        Returns
        -------
        embeddings : ndarray of shape (n_examples, embed_dim), float32
        """
        check_is_fitted(self, "ch_names_")
        X, names = _net.check_eeg_array(self, X, reset=False)
        names = _net.resolve_ch_names(self, names, X.shape[1], reset=False)
        with _net.concrete_device(self):
            self.module_.ch_names = names
            return embed(self, self.module_.embed, X)

    # skorch's predict methods return the raw contrastive projections, which
    # mean nothing to a user: a transformer exposes transform only.
    predict = available_if(lambda self: False)(NeuralNet.predict)
    predict_proba = available_if(lambda self: False)(NeuralNet.predict_proba)

    @property
    def encoder_(self):
        check_is_fitted(self, "module_")
        return self.module_.encoder

    def save_pretrained(self, directory):
        """Save the encoder (JSON config + safetensors) for CRIAClassifier or sharing."""
        self.encoder_.save_pretrained(directory)

    @classmethod
    def from_pretrained(cls, directory, **params):
        """A pretrainer that embeds with a saved encoder as it is (no training).

        Equivalent to ``ViewMaskPretrainer(checkpoint=directory, max_epochs=0)``:
        calling ``fit`` only records the channels, so it fits in a Pipeline
        and survives ``clone``.
        """
        params.setdefault("max_epochs", 0)
        return cls(checkpoint=directory, **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = False
        return tags


def embed(net, embed_fn, X):
    """Run ``embed_fn`` over X in eval mode, batch by batch, without gradients."""
    net.module_.eval()
    dataset = net.get_dataset(X)
    outputs = []
    with torch.inference_mode(), _net.autocast(net.device):
        for Xi, _ in net.get_iterator(dataset, training=False):
            Xi = Xi.to(net.device, non_blocking=True)
            outputs.append(embed_fn(Xi).float().cpu())
    return torch.cat(outputs).numpy()
