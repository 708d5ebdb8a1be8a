"""LoRA / QLoRA fine-tuning on the SFT pairs: the library the `train_qlora` stage calls.

`recipe.train` is the run, top to bottom (its docstring: what one run does); the modules it calls:

| module | what it holds |
|---|---|
| `parallel` | data parallelism under torchrun (`DataParallel`), device, cores, processes per run |
| `data` | SFT pairs read, tokenized once with `chat.encode_pair`, checked (`Example`) |
| `plan` | the whole run planned from the seed: micro-batches per step, learning rate per step |
| `batches` | micro-batches as tensors (packed, one row per example, padded) and their summed loss |
| `attention` | flash attention per example of a packed row (`VARLEN_ATTENTION`, CUDA) |
| `frozen_prefix` | the frozen layers' output per example computed once (`FrozenPrefix`, CPU) |
| `lora_model` | the base model with fresh LoRA adapters, NF4 and compiled layers on CUDA |
| `step` | one optimizer step (`train_step`) and the val loss (`evaluate_loss`) |
| `checkpoints` | resumable checkpoints checked by fingerprint; the adapter the stage writes |

The names below are the package's public API (what the stage, tests and benchmarks use).
"""

from fan_timeline.train.attention import VARLEN_ATTENTION, register_varlen_attention
from fan_timeline.train.batches import (
                                        Batch,
                                        StaticRows,
                                        collate,
                                        loss_sum,
                                        micro_batch_rows,
                                        packed_one_row,
                                        static_rows,
)
from fan_timeline.train.checkpoints import (
                                        find_checkpoint,
                                        load_checkpoint,
                                        run_fingerprint,
                                        save_adapter,
                                        save_checkpoint,
                                        trainable_state,
)
from fan_timeline.train.data import IGNORE_INDEX, Example, load_examples, read_pairs, tokenize_pairs
from fan_timeline.train.frozen_prefix import FrozenPrefix, use_frozen_prefix
from fan_timeline.train.lora_model import build_model, resolve_quantization
from fan_timeline.train.parallel import (
                                        DataParallel,
                                        init_data_parallel,
                                        own_dropout_stream,
                                        physical_cores,
                                        resolve_device,
                                        resolve_nproc,
)
from fan_timeline.train.plan import lr_at, plan_micro_batches, plan_run
from fan_timeline.train.recipe import train
from fan_timeline.train.step import evaluate_loss, row_losses, train_step

__all__ = [
    "IGNORE_INDEX", "VARLEN_ATTENTION", "Batch", "DataParallel", "Example", "FrozenPrefix", "StaticRows",
    "build_model", "collate", "evaluate_loss", "find_checkpoint", "init_data_parallel", "load_checkpoint",
    "load_examples", "loss_sum", "lr_at", "micro_batch_rows", "own_dropout_stream", "packed_one_row",
    "physical_cores", "plan_micro_batches", "plan_run", "read_pairs", "register_varlen_attention",
    "resolve_device", "resolve_nproc", "resolve_quantization", "row_losses", "run_fingerprint", "save_adapter",
    "save_checkpoint", "static_rows", "tokenize_pairs", "train", "train_step", "trainable_state",
    "use_frozen_prefix",
]
