"""The command line: python3 cluster-trainer/train.py --bundle DIR --run_dir DIR --base_model PATH [options].

Reads the prepared run, checks the base model on this machine against it, picks device, precision and parallelism
(printed), resumes from the newest verified checkpoint (--resume auto), trains, and writes the run folder. Ends with
exit code 0 when the run completed; otherwise one `error:` line on stderr names the problem (errors.py has the codes).
"""
import argparse
import json
import os
import signal
import sys
import time
import traceback

import torch

from . import distributed
from .base_model import build_model, resolve_base_dtype
from .bundle import Bundle
from .checkpoint import TRAINING_CONFIG, latest_good_checkpoint, verify_checkpoint
from .data import Collator
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_OUT_OF_MEMORY, EXIT_TERMINATED, TrainerError
from .hf_checkpoint import Checkpoint
from .model_config import PROJECTIONS, differences, load_config
from .quantized import require_bitsandbytes
from .run_folder import RunFolder, trainable_params_line
from .signals import SignalWatch
from .trainer import Trainer, zero_rate_reason

# Settings a resumed run may not change (resume-settings.ts FIXED_ON_RESUME), and those not compared at all.
FIXED_ON_RESUME = ("lora_r", "lora_alpha", "use_rslora", "lora_target_modules", "batch_size", "micro_batch_size")
NOT_COMPARED = ("output_dir", "resume_from_checkpoint", "overwrite", "gradient_checkpointing")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="cluster-trainer/train.py", description="LoRA Studio's cluster trainer (PyTorch).")
    p.add_argument("--bundle", required=True, help="the prepared run folder (bundle.json, prepared.safetensors)")
    p.add_argument("--run_dir", required=True, help="the run folder to write (config.json, metrics.jsonl, checkpoints/, adapter/)")
    p.add_argument("--base_model", required=True, help="the base model's Hugging Face folder on this machine")
    p.add_argument("--resume", default="auto", help="auto: the newest verified checkpoint in run_dir, if any (default); no; or a checkpoint folder")
    p.add_argument("--overwrite", action="store_true", help="with --resume no: delete a previous run's files in run_dir first")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--parallel", choices=("auto", "ddp", "fsdp"), default="auto", help="ddp: every rank holds the whole frozen base; fsdp: it is sharded across ranks; auto: from the bundle's memory estimate")
    p.add_argument("--precision", choices=("auto", "bf16", "f32"), default="auto", help="auto: bf16 autocast on GPUs that have it, else f32 (bf16 on a CPU: for checks, slow)")
    p.add_argument("--base_dtype", choices=("auto", "f32", "bf16", "f16", "int8", "nf4"), default=None, help="override the bundle's base_dtype (auto keeps the checkpoint's)")
    p.add_argument("--attention", choices=("auto", "eager", "sdpa"), default="auto", help="auto: sdpa on CUDA with PyTorch >= 2.0, else eager (the local trainer's arithmetic)")
    p.add_argument("--gradient_checkpointing", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per process (torch.set_num_threads)")
    p.add_argument("--dump_grads", default=None, help=argparse.SUPPRESS)  # testing aid: LoRA gradients of the first steps
    p.add_argument("--dump_grads_steps", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


class Output:
    """The trainer's own log on stdout (SLURM's output file); rank 0 says everything, other ranks only problems."""

    def __init__(self, world):
        self.world = world
        self.prefix = f"[rank {world.rank}] " if world.size > 1 else ""

    def log(self, message, always=False):
        if self.world.is_main or always:
            print(f"{self.prefix}{message}", flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    world = distributed.detect_world()
    out = Output(world)
    state = {"trainer": None, "folder": None, "signals": None}

    def emit(event):
        if state["folder"] is not None and world.is_main:
            state["folder"].emit(event)

    def warn(message):
        emit({"type": "log", "level": "warn", "message": message})
        out.log(f"warning: {message}")

    def on_terminate(sig):
        # A stop is told as a warning, not an `error:` line: its cause is whoever sent the signal (scancel, SLURM's
        # time limit or preemption, or torchrun stopping the rest when one trainer failed, whose own `error:` line
        # must stay the last one a reader finds).
        code = EXIT_TERMINATED if sig == signal.SIGTERM else EXIT_INTERRUPTED
        try:
            trainer = state["trainer"]
            if world.is_main and trainer is not None and trainer.ready:
                with trainer.lock:
                    step = trainer.pos["step"]
                    folder = trainer.last_checkpoint if trainer.last_saved_step == step else trainer.save_checkpoint()
                emit({"type": "checkpoint", "step": step, "dir": folder})
                message = f"stopped by {sig.name} at step {step}: checkpoint {folder} written; --resume auto continues from it"
                warn(message)
                print(f"warning: {message}", file=sys.stderr, flush=True)
            elif world.is_main:
                print(f"warning: stopped by {sig.name} before training started; nothing to save", file=sys.stderr, flush=True)
        except BaseException as e:  # noqa: BLE001  (the process ends here whatever happened)
            print(f"error: stopped by {sig.name}; the checkpoint could not be written ({e})", file=sys.stderr, flush=True)
        finally:
            sys.stdout.flush()
            os._exit(code)

    try:
        state["signals"] = SignalWatch(on_terminate)
        code = run(args, world, out, state, emit, warn)
    except BaseException as e:  # noqa: BLE001
        if state["signals"] is not None and state["signals"].terminating.is_set():
            time.sleep(3600)  # the signal watcher is writing the checkpoint and ends the process
        code, message = describe_failure(e, state)
        if code == EXIT_FAILED:
            traceback.print_exc()
        if state["folder"] is not None and world.is_main:
            try:
                warn(message)
            except OSError:
                pass
        print(f"error: {out.prefix}{message}", file=sys.stderr, flush=True)
    finally:
        distributed.stop(world)
    return code


def describe_failure(e, state):
    if isinstance(e, TrainerError):
        return e.exit_code, str(e)
    oom = isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower())
    if oom:
        trainer = state["trainer"]
        where = f" at step {trainer.pos['step'] + 1}" if trainer is not None else ""
        return EXIT_OUT_OF_MEMORY, (
            f"out of memory{where} ({str(e).splitlines()[0][:200]}); lower micro_batch_size or cutoff_len, "
            "turn on --gradient_checkpointing on, or shard the base with --parallel fsdp across more processes"
        )
    if isinstance(e, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    return EXIT_FAILED, f"unexpected {type(e).__name__}: {e}"


def run(args, world, out, state, emit, warn):
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = Bundle(args.bundle)
    c = bundle.config
    # The base on this machine must be the model the run was prepared for, before anything heavy happens.
    if not os.path.isdir(args.base_model):
        raise TrainerError(
            f"base model {args.base_model}: no such folder on this machine; give --base_model the path of the Hugging Face model folder here (config.json, *.safetensors)"
        )
    config = load_config(args.base_model)
    diff = differences(config, bundle.base_config)
    if diff:
        raise TrainerError(f"base model {args.base_model} is not the model this run was prepared for: {'; '.join(diff)}")
    ckpt = Checkpoint(args.base_model)
    ckpt.check_against(config)
    storage = resolve_base_dtype(args.base_dtype or c["base_dtype"], ckpt.storage_dtype())
    if storage in ("int8", "nf4"):
        require_bitsandbytes(storage)  # refused here, before the run folder is made or a weight is read

    world = distributed.start(world, args.device)
    if c["batch_size"] % (c["micro_batch_size"] * world.size):
        raise TrainerError(
            f"batch_size {c['batch_size']} is not a multiple of micro_batch_size {c['micro_batch_size']} × {world.size} processes: "
            "each process takes an equal slice of every global batch; choose a micro_batch_size or process count that divides it"
        )
    accumulation = c["batch_size"] // (c["micro_batch_size"] * world.size)

    folder = RunFolder(args.run_dir) if world.is_main else None
    resume_dir = find_resume(args, RunFolder(args.run_dir), warn_to=out.log)
    if folder is not None:
        notes = folder.prepare(resuming=resume_dir is not None or args.resume == "auto", overwrite=args.overwrite)
        state["folder"] = folder
        for n in notes:
            warn(n)
    if resume_dir:
        check_resume_settings(c, resume_dir, warn)

    use_cuda = world.device.type == "cuda"
    # auto: bf16 autocast on GPUs that have it. Asked for on a CPU it runs there too (PyTorch's CPU autocast): slow
    # on most CPUs, but the same mixed-precision code path as on a GPU, so it can be checked without one.
    bf16 = args.precision == "bf16" or (args.precision == "auto" and use_cuda and torch.cuda.is_bf16_supported())
    if bf16 and use_cuda and not torch.cuda.is_bf16_supported():
        raise TrainerError(f"--precision bf16 needs a GPU with bf16, and {torch.cuda.get_device_name(world.device)} has none; use --precision auto or f32")
    autocast_dtype = torch.bfloat16 if bf16 else None
    sharded, why = choose_parallel(args.parallel, world, bundle, storage, bf16)
    attention = args.attention if args.attention != "auto" else ("sdpa" if use_cuda and hasattr(torch.nn.functional, "scaled_dot_product_attention") else "eager")
    gc = {"on": True, "off": False}.get(args.gradient_checkpointing, c.get("gradient_checkpointing"))
    if gc is None:
        gc = storage in ("int8", "nf4")  # as PEFT's prepare_model_for_kbit_training (gradient-checkpointing.ts)
    targets = [t for t in dict.fromkeys(c["lora_target_modules"])]
    if any(t not in PROJECTIONS for t in targets):
        raise TrainerError(f"lora_target_modules {targets}: each must be one of {', '.join(PROJECTIONS)}")

    gpu = f"{torch.cuda.get_device_name(world.device)}" if use_cuda else "CPU"
    detail = (
        f"PyTorch {torch.__version__} on {gpu} ({world.device}), {world.size} process{'es' if world.size > 1 else ''}"
        f"{f' over {world.backend}' if world.backend else ''} ({world.launcher}), {'DDP' if not sharded else 'FSDP'}, "
        f"{'bf16 autocast' if bf16 else 'f32'}, {attention} attention"
    )
    out.log(detail)
    out.log(f"parallel: {why}")
    out.log(f"frozen base held as {storage}{' (auto: the checkpoint as stored)' if (args.base_dtype or c['base_dtype']) == 'auto' else ''}; gradient checkpointing {'on' if gc else 'off'}")
    out.log(f"global batch {c['batch_size']} = {world.size} process{'es' if world.size > 1 else ''} × micro-batch {c['micro_batch_size']} × {accumulation} accumulated")

    lora = {"r": c["lora_r"], "alpha": c["lora_alpha"], "dropout": c["lora_dropout"], "use_rslora": c["use_rslora"], "targets": targets, "seed": c["seed"]}
    started = time.perf_counter()
    model = build_model(config, ckpt, lora, storage, world, sharded, gc, attention, autocast_dtype, out.log)
    ckpt.close()
    out.log(f"base model loaded in {time.perf_counter() - started:.1f} s")

    run_config = {
        **c,
        "output_dir": os.path.abspath(args.run_dir),
        "cluster_base_model": os.path.abspath(args.base_model),
        "base_dtype_used": storage,
        "gradient_checkpointing_used": gc,
        "backend_used": "pytorch-cuda" if use_cuda else "pytorch-cpu",
        "backend_detail": detail,
        "threads_used": torch.get_num_threads(),
        "world_size_used": world.size,
        "parallel_used": "fsdp" if sharded else "ddp",
        "precision_used": "bf16" if bf16 else "f32",
    }
    settings = {**lora, "base_model": bundle.base_path, "lora_r": c["lora_r"], "lora_alpha": c["lora_alpha"], "lora_dropout": c["lora_dropout"]}
    collator = Collator(bundle.data["pad_id"], bundle.data["pad_multiple"], bundle.data["ignore_index"])
    dump = (args.dump_grads, args.dump_grads_steps) if args.dump_grads else None
    trainer = Trainer(model, bundle, world, folder, settings, run_config, collator, sharded, autocast_dtype, out.log, emit, dump)
    if resume_dir:
        state_file = trainer.restore(resume_dir)
        if state_file.get("dataSha256") != bundle.data["data_sha256"]:
            warn(f"the data changed since {resume_dir} was written; the data order will differ")
        out.log(f"resuming from {resume_dir} at step {trainer.pos['step']}")
    state["trainer"] = trainer

    if folder is not None:
        folder.write_config(run_config)
    trainable = sum(p.numel() for p in trainer.params)
    all_params = config.parameter_count() + trainable
    emit({"type": "log", "level": "info", "message": detail})
    emit({"type": "log", "level": "info", "message": trainable_params_line(trainable, all_params)})
    out.log(trainable_params_line(trainable, all_params))
    if trainer.pos["step"] == 0:
        zero = zero_rate_reason(trainer.total, c["warmup_steps"])
        if zero:
            warn(f"this run cannot change the adapter{zero}")
    emit({"type": "start", "totalSteps": trainer.total, "startStep": trainer.pos["step"], "trainableParams": trainable, "allParams": all_params, "backend": detail})
    start_step = trainer.pos["step"]
    out.log(f"training {trainer.total} steps" + (f" from step {start_step}" if start_step else ""))

    reason = trainer.train(state["signals"])
    best = None
    if world.is_main:
        best = trainer.final_adapter(reason)
        best_step = trainer.pos["bestStep"]
        out.log(f"adapter saved to {folder.adapter} and checked" + (f" (the best checkpoint, step {best_step})" if best else ""))
        done = {"type": "done", "step": trainer.pos["step"], "reason": reason, "adapterDir": folder.adapter}
        if best:
            done["bestCheckpoint"] = best
        emit(done)
    out.log(f"done: {trainer.pos['step']} steps ({reason})")
    return EXIT_OK


def find_resume(args, folder, warn_to):
    if args.resume == "no":
        return None
    if args.resume == "auto":
        found = latest_good_checkpoint(folder.checkpoints, lambda m: warn_to(f"warning: {m}", True)) if os.path.isdir(folder.checkpoints) else None
        return found
    problem = verify_checkpoint(args.resume) if os.path.isdir(args.resume) else f"{args.resume}: not a folder"
    if problem:
        raise TrainerError(f"cannot resume from {args.resume}: {problem}")
    return args.resume


def check_resume_settings(c, checkpoint, warn):
    path = os.path.join(checkpoint, TRAINING_CONFIG)
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return
    refused, changed = [], []
    for name, now in c.items():
        if name in NOT_COMPARED or name not in saved or saved[name] == now:
            continue
        (refused if name in FIXED_ON_RESUME else changed).append(f"{name} {json.dumps(saved[name])} → {json.dumps(now)}")
    if refused:
        raise TrainerError(
            f"{path}: cannot resume with {', '.join(refused)}: the checkpoint's LoRA weights, optimizer moments and position were made with the first values; "
            "resume with the saved settings, or start a new run in another --run_dir"
        )
    if changed:
        warn(f"resuming with settings that differ from {path}: {', '.join(changed)}; the result will not equal an uninterrupted run")


def choose_parallel(asked, world, bundle, storage, bf16):
    """DDP when a replica of the frozen base (plus LoRA, optimizer and one micro-batch's activations) fits one device,
    else the base sharded across ranks; an explicit --parallel wins."""
    if world.size == 1:
        return False, "one process: nothing to distribute"
    if asked != "auto":
        return asked == "fsdp", f"{asked.upper()} (asked for by --parallel {asked})"
    m = bundle.memory
    need = m["frozen_bytes"][storage] + m["lora_bytes"] + m["optimizer_bytes"] + m["activation_bytes"] * (0.5 if bf16 else 1)
    if world.device.type == "cuda":
        have = torch.cuda.get_device_properties(world.device).total_memory
        where = f"{torch.cuda.get_device_name(world.device)}'s {have / 2**30:.1f} GiB"
    else:
        local = int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("SLURM_NTASKS_PER_NODE", "1").split("(")[0] or 1)
        have = _available_ram() / max(1, local)
        where = f"{have / 2**30:.1f} GiB of this node's free RAM per process"
    gib = need / 2**30
    if need <= 0.9 * have or storage in ("int8", "nf4"):
        return False, f"DDP: a replica of the {storage} base and one micro-batch need ~{gib:.2f} GiB, within {where}"
    return True, f"FSDP: a replica would need ~{gib:.2f} GiB, more than {where}; the frozen base is sharded over {world.size} processes"


def _available_ram():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
