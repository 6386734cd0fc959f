"""
Which channels does purification keep?
======================================

Before pooling, CRIA keeps, for each example, the ``k_c`` channels whose fused
tokens have the largest norm ("instance-adapted purification"). Counting how
often each electrode is kept over many windows, separately for rest and for
mental arithmetic, and drawing the counts on the scalp with MNE shows where the
encoder looks. The encoder here is the ``small`` preset, pre-trained without
labels for one epoch on four subjects: a quick look, not a finding.
"""

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np
import torch

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.channels import normalize_channel_name
from sk_cria.datasets import load_eegmat

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run line by line: sphinx-gallery and IDEs start in examples/
    HERE = Path.cwd()
DATA = Path(os.environ.get("SK_CRIA_DATA", HERE.parent.parent / "shared" / "data"))

eegmat = load_eegmat(subjects=[0, 1, 2, 3], path=DATA, sfreq=200.0, download=False)
X = EEGPreprocessor(sfreq=eegmat.sfreq, ch_names=eegmat.ch_names,
                    line_freq=50.0).fit_transform(eegmat.data)
pretrainer = ViewMaskPretrainer(config="small", max_epochs=1, random_state=0).fit(X)

# %%
# Count the kept channels
# -----------------------
# ``encode`` returns, besides the embedding, the boolean ``kept`` mask
# (example, channel, patch); a channel counts as kept when any of its patches is.
encoder = pretrainer.encoder_.eval()
with torch.inference_mode():
    kept = encoder.encode(torch.as_tensor(np.asarray(X)), X.ch_names).kept.any(dim=-1).numpy()
share = {label: kept[eegmat.target == label].mean(axis=0) for label in (0, 1)}

# %%
# Draw them on the scalp
# ----------------------
# The derivation A2-A1 has no single position on the scalp and is left out.
names = [normalize_channel_name(name) for name in X.ch_names]
on_scalp = [i for i, name in enumerate(names) if "-" not in name]
info = mne.create_info([names[i] for i in on_scalp], 200.0, ch_types="eeg")
info.set_montage("colin27_1020")  # MNE >= 1.13; "standard_1020" before
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, (label, title) in zip(axes, [(0, "rest"), (1, "mental arithmetic")]):
    image, _ = mne.viz.plot_topomap(share[label][on_scalp], info, axes=ax, show=False,
                                    vlim=(0, 1), cmap="viridis")
    ax.set_title(title)
fig.suptitle("Share of windows in which purification keeps each channel")
fig.colorbar(image, ax=axes, shrink=0.7)
plt.show()
