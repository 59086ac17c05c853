"""LoRA Studio's cluster trainer: the local trainer's recipe (main/engine/train/) in plain PyTorch, for SLURM.

One module per concern, in the order a run uses them:
  errors          TrainerError (one `error:` line, an exit code)
  safetensors_io  the safetensors format, read and written (no safetensors package)
  bundle          the prepared run (bundle.json + prepared.safetensors) written by prepared-run.ts
  model_config    a Hugging Face config.json as the engine reads it (llama/config.ts)
  hf_checkpoint   the base model's weights: one file or shards with their index
  prng            the engine's xoshiro128** stream, so the same seed draws the same LoRA init
  llama           the forward pass (RMSNorm, RoPE, GQA, SwiGLU) as model/llama.ts computes it
  lora            LoRA A/B on any projection (rsLoRA, seeded dropout), PEFT names
  quantized       8-bit / NF4 frozen projections through bitsandbytes
  sharded_base    the frozen base split across ranks, gathered per layer (FSDP's scheme for frozen weights)
  base_model      the frozen base and its LoRA modules, held as base_dtype says, replicated or sharded
  data            collation and the global batch split across ranks
  optim           AdamW and the linear warmup/decay schedule, as adamw.ts and schedule.ts
  distributed     torchrun / srun environments, the process group, gradient all-reduce
  run_folder      config.json, metrics.jsonl, adapter/ (run-folder.ts's layout)
  checkpoint      atomic checkpoints/step-N with the SHA-256 manifest (checkpoint.ts, run-state.ts)
  signals         SIGUSR1 (checkpoint and go on), SIGTERM/SIGINT (checkpoint and exit)
  trainer         the training loop (trainer.ts)
  main            the command line (train.py calls it)
"""
