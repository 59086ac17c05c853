"""LoRA Studio's cluster trainer. Usage (README.md has the launch lines for one process, torchrun and srun):

    python3 cluster-trainer/train.py --bundle BUNDLE_DIR --run_dir RUN_DIR --base_model PATH_ON_THIS_MACHINE
"""
import os
import sys

if sys.version_info < (3, 9):
    print(f"error: the cluster trainer needs Python 3.9 or newer; this is {sys.version.split()[0]} ({sys.executable})", file=sys.stderr)
    sys.exit(2)
try:
    import torch  # noqa: F401
except ImportError as e:
    print(f"error: the cluster trainer needs PyTorch (>= 1.13) in {sys.executable}: {e}; install it (pip install torch) or pass the right Python", file=sys.stderr)
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_trainer.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
