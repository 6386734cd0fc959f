"""Pre-train on a slice of eegmat and save this process's weights and losses.

Run by tests/test_ddp.py, alone (``python tests/ddp_pretrain.py ...``)
and under ``torchrun --nproc_per_node=2``: the same Python code in both, as a
user would write it.
"""

import json
from pathlib import Path
import sys

import torch

from sk_cria import EEGPreprocessor, ViewMaskPretrainer, ddp
from sk_cria.datasets import EEGWindowsDataset
from sk_cria.model import CRIAConfig

out, batch_size, files = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
dataset = EEGWindowsDataset(files, window=4, preprocessor=EEGPreprocessor(line_freq=50),
                            verbose=False)
# No dropout: what remains random (the masks) is drawn identically by one
# process and by two, so their loss curves can be compared closely.
net = ViewMaskPretrainer(config=CRIAConfig.small(dropout=0.0), max_epochs=2,
                         batch_size=batch_size, random_state=0)
net.fit(dataset)
rank = ddp.rank()
torch.save(net.module_.state_dict(), out / f"rank{rank}.pt")
(out / f"rank{rank}.json").write_text(json.dumps({
    "loss": net.history[:, "train_loss"], "threads": torch.get_num_threads(),
    "world_size": ddp.world_size(),
}))
ddp.finish()  # as the scaling guide's script ends
assert not torch.distributed.is_initialized()
