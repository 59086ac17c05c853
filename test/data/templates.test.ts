[
  {
    "name": "WebGPU adapters > are described with their limits and whether they have shader-f16",
    "file": "/work/main/test/backend/adapter.test.ts"
  },
  {
    "name": "WebGPU adapters > are looked for on Linux only when a GPU device node exists",
    "file": "/work/main/test/backend/adapter.test.ts"
  },
  {
    "name": "a backend start that stalls > becomes an error with a reason once its time is up",
    "file": "/work/main/test/backend/backend-start.test.ts"
  },
  {
    "name": "a backend start that stalls > ends the CLI with one error line and exit code 1",
    "file": "/work/main/test/backend/backend-start.test.ts"
  },
  {
    "name": "a backend start that stalls > fails a studio job with that reason",
    "file": "/work/main/test/backend/backend-start.test.ts"
  },
  {
    "name": "WebGPU device limits > take total and free memory from nvidia-smi for an NVIDIA adapter, and the binding limit from the adapter",
    "file": "/work/main/test/backend/memory-guard.test.ts"
  },
  {
    "name": "WebGPU device limits > say the memory is unknown for other adapters, or when nvidia-smi is missing",
    "file": "/work/main/test/backend/memory-guard.test.ts"
  },
  {
    "name": "the WebGPU training guard > lets a run through that fits",
    "file": "/work/main/test/backend/memory-guard.test.ts"
  },
  {
    "name": "the WebGPU training guard > refuses when the estimate exceeds the free device memory, naming the figures and what to lower",
    "file": "/work/main/test/backend/memory-guard.test.ts"
  },
  {
    "name": "the WebGPU training guard > refuses when one tensor exceeds the binding limit even with the memory unknown",
    "file": "/work/main/test/backend/memory-guard.test.ts"
  },
  {
    "name": "frozen weights in 16-bit storage (WebGPU) > count 2 bytes a projection or lm_head weight (plus the f32 embedding and norms) instead of f32 W and Wᵀ",
    "file": "/work/main/test/backend/memory-guard.test.ts"
  },
  {
    "name": "gradient checkpointing on WebGPU > gives the plain pass’s loss and gradients over an int8 base (dropout 0.1)",
    "file": "/work/main/test/backend/webgpu-checkpointing.test.ts"
  },
  {
    "name": "register-tiled batched matmul equals tf.matMul on WebGPU > batch 3, M 37, K 8, N 35, transposeA false, transposeB true: values and both gradients",
    "file": "/work/main/test/backend/webgpu-batched-matmul.test.ts"
  },
  {
    "name": "register-tiled batched matmul equals tf.matMul on WebGPU > batch 2, M 33, K 35, N 8, transposeA false, transposeB false: values and both gradients",
    "file": "/work/main/test/backend/webgpu-batched-matmul.test.ts"
  },
  {
    "name": "register-tiled batched matmul equals tf.matMul on WebGPU > batch 2, M 7, K 37, N 12, transposeA true, transposeB false: values and both gradients",
    "file": "/work/main/test/backend/webgpu-batched-matmul.test.ts"
  },
  {
    "name": "register-tiled batched matmul equals tf.matMul on WebGPU > grouped attention (rep 2, a padded query row, S = T): tiled products against tf.matMul, values and gradients",
    "file": "/work/main/test/backend/webgpu-batched-matmul.test.ts"
  },
  {
    "name": "KV-cached decoding on WebGPU > prefill 5 tokens, then 3 single steps: the logits of the full forward within 1e-4",
    "file": "/work/main/test/backend/webgpu-batched-matmul.test.ts"
  },
  {
    "name": "16-bit frozen weights on WebGPU > a 16-bit checkpoint: the same logits and LoRA gradients as f32 storage, a quarter of the frozen bytes of f32 training (Wᵀ and W)",
    "file": "/work/main/test/backend/webgpu-f16.test.ts"
  },
  {
    "name": "fused RoPE, LoRA and cross-entropy equal the plain tfjs ops on WebGPU > RoPE from the projection [B·T, H·D] to heads [B, H, T, D]: values, gradient, one dispatch each way",
    "file": "/work/main/test/backend/webgpu-fusions.test.ts"
  },
  {
    "name": "fused RoPE, LoRA and cross-entropy equal the plain tfjs ops on WebGPU > LoRA up-projection base + scale·u·Bᵀ: values and the gradients of base, u and Bᵀ",
    "file": "/work/main/test/backend/webgpu-fusions.test.ts"
  },
  {
    "name": "fused RoPE, LoRA and cross-entropy equal the plain tfjs ops on WebGPU > cross-entropy: per-row loss and (softmax − onehot)·w·dy, ignored rows give 0, large logits stay finite",
    "file": "/work/main/test/backend/webgpu-fusions.test.ts"
  },
  {
    "name": "a training job on webgpu-software > reports its WebGPU adapter and the bytes its GPU buffers hold",
    "file": "/work/main/test/backend/webgpu-job.test.ts"
  },
  {
    "name": "fused WebGPU kernels equal the plain tfjs ops > RMSNorm: values and the gradient for x, in one kernel each",
    "file": "/work/main/test/backend/webgpu-kernels.test.ts"
  },
  {
    "name": "fused WebGPU kernels equal the plain tfjs ops > SwiGLU: values and both gradients",
    "file": "/work/main/test/backend/webgpu-kernels.test.ts"
  },
  {
    "name": "fused WebGPU kernels equal the plain tfjs ops > masked attention softmax B=2 G=2 rep=2 T=5 S=5: values and gradient",
    "file": "/work/main/test/backend/webgpu-kernels.test.ts"
  },
  {
    "name": "fused WebGPU kernels equal the plain tfjs ops > masked attention softmax B=1 G=3 rep=1 T=4 S=9: values and gradient",
    "file": "/work/main/test/backend/webgpu-kernels.test.ts"
  },
  {
    "name": "fused WebGPU kernels equal the plain tfjs ops > masked attention softmax B=2 G=1 rep=3 T=7 S=7: values and gradient",
    "file": "/work/main/test/backend/webgpu-kernels.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > f32: N=37 rows=70 cols=44, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > f32: N=9 rows=5 cols=33, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > bf16: N=37 rows=70 cols=44, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > bf16: N=9 rows=5 cols=33, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > f16: N=37 rows=70 cols=44, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > f16: N=9 rows=5 cols=33, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > int8: N=37 rows=70 cols=44, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > int8: N=9 rows=5 cols=33, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > nf4: N=37 rows=70 cols=44, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights > nf4: N=9 rows=5 cols=33, forward and gradient",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packForGpu refuses what a kernel cannot bind > a matrix over the storage-binding limit: a clear error with the figures",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "packForGpu refuses what a kernel cannot bind > an input of the wrong width: a StudioError naming both shapes",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "matmul path: subgroup matrices only behind a feature check and a self-test > SwiftShader has no subgroup matrices: the tiled kernel, with the reason; forcing them is a clear error",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "matmul path: subgroup matrices only behind a feature check and a self-test > the config choice: f16 → f32 only, the largest first, and a reason for each refusal",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "matmul path: subgroup matrices only behind a feature check and a self-test > the self-test passes a kernel that agrees and fails one that does not, with its max difference",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "the subgroup-matrix kernel on a software stand-in for its builtins > { M: 16, N: 8, K: 4, subgroupSize: 32, subgroups: 1 } nf4: x·Wᵀ and dy·W equal the tiled kernel within f16 rounding, gradients of 1e-9 included",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "the subgroup-matrix kernel on a software stand-in for its builtins > { M: 4, N: 8, K: 16, subgroupSize: 16, subgroups: 4 } int8: x·Wᵀ and dy·W equal the tiled kernel within f16 rounding, gradients of 1e-9 included",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "the subgroup-matrix WGSL compiles (Dawn null backend, in a child process) > every mode and direction, 16×16×16 and 8×8×8 configs, one and four subgroups: no error, no warning; a wrong operand type is rejected",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "a tiny LLaMA through packed int8 / nf4 weights > layer 0 int8, layer 1 and lm_head nf4: the same logits and LoRA gradients as the model on the dequantized f32 weights",
    "file": "/work/main/test/backend/webgpu-packed-matmul.test.ts"
  },
  {
    "name": "webgpu-software (SwiftShader) equals wasm on a tiny LLaMA of stories260K’s shape > logits within 1e-4 absolute",
    "file": "/work/main/test/backend/webgpu-software.test.ts"
  },
  {
    "name": "webgpu-software (SwiftShader) equals wasm on a tiny LLaMA of stories260K’s shape > LoRA gradients within 1e-4 relative (every target module, padded rows)",
    "file": "/work/main/test/backend/webgpu-software.test.ts"
  },
  {
    "name": "webgpu-software (SwiftShader) equals wasm on a tiny LLaMA of stories260K’s shape > 10 training steps (runFinetune) give the loss curve of wasm within 1e-3",
    "file": "/work/main/test/backend/webgpu-software.test.ts"
  },
  {
    "name": "webgpu-software (SwiftShader) equals wasm on a tiny LLaMA of stories260K’s shape > runFinetune refuses before the first step when one tensor would exceed the adapter binding limit",
    "file": "/work/main/test/backend/webgpu-software.test.ts"
  },
  {
    "name": "dispatch cost accounting > counts 2·M·N·K FLOPs for a product, whichever way its left operand is laid out",
    "file": "/work/main/test/bench/dispatch-profile.test.ts"
  },
  {
    "name": "dispatch cost accounting > counts elementwise programs by the elements they touch, and a declared count as declared",
    "file": "/work/main/test/bench/dispatch-profile.test.ts"
  },
  {
    "name": "dispatch cost accounting > times a dispatch by its roofline plus its fixed cost, and scales a 1- and 2-layer profile to N layers",
    "file": "/work/main/test/bench/dispatch-profile.test.ts"
  },
  {
    "name": "dispatch recorder on the WebGPU software adapter > records tfjs's matMul and our f16-weight kernel with their exact FLOPs and bytes",
    "file": "/work/main/test/bench/dispatch-profile.test.ts"
  },
  {
    "name": "GPU kit > packs node, dawn.node, the bundle, the Vulkan loader, the PyTorch scripts and run.sh within its size",
    "file": "/work/main/test/bench/gpu-kit.test.ts"
  },
  {
    "name": "GPU kit > runs its dry mode to the end, writing the log, the results and the summary",
    "file": "/work/main/test/bench/gpu-kit.test.ts"
  },
  {
    "name": "GPU kit > finds the SwiftShader adapter and lists its features, limits and subgroup-matrix configs",
    "file": "/work/main/test/bench/gpu-kit.test.ts"
  },
  {
    "name": "GPU kit > matches PyTorch on logits and LoRA gradients",
    "file": "/work/main/test/bench/gpu-kit.test.ts"
  },
  {
    "name": "GPU kit > times our LoRA training, and says why each PyTorch + PEFT row is missing where it is",
    "file": "/work/main/test/bench/gpu-kit.test.ts"
  },
  {
    "name": "bench ratios under noise > takes the median of per-run ratios, pairing run i of ours with run i of the reference",
    "file": "/work/main/test/bench/spread.test.ts"
  },
  {
    "name": "bench ratios under noise > flags a spread wider than 1.5× between the smallest and largest run",
    "file": "/work/main/test/bench/spread.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --learning_rate NaN",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --learning_rate abc",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --cutoff_len 1e3x",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --lora_r 2.5",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --backend tpu",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate --max_new_tokens abc",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate --top_p 5 (the studio refuses it too)",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate --threads x",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge without --lora_weights",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge --dtype f8",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > quantize --format gguf-q4_0",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > export-state-dict --dtype x",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > inspect --jsn (misspelt)",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > serve --port 99999",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > serve --port http",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --config with an unknown key",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --config garbage",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --config missing",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune: default val_set_size 2000 on 999 rows",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --lora_r 100000",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune --output_dir is a file",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune on a read-only file system",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge onto a full disk",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > export-state-dict --output_dir is a file",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge --output_dir /proc/x",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune: missing model",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune: truncated weights",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune: garbage config.json",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune: missing data",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune: truncated data",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > finetune: garbage data",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate: missing model",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate: garbage weights",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate: truncated config.json",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate: garbage tokenizer.json",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate: missing adapter",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > generate: garbage adapter_config.json",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > inspect: missing folder",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge: missing model",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge: truncated adapter weights",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge: garbage adapter_config.json",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > merge: an empty folder as the adapter",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > export-state-dict: truncated weights",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > export-state-dict: garbage config.json",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > quantize: missing model",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > quantize: garbage weights",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > quantize: truncated adapter",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > demo --output_dir a model folder (other files)",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > quantize: neither model nor base_model",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "every command answers bad input with one clear line > inspect lists the problems of a broken model folder by file (its report, exit 2), without a stack",
    "file": "/work/main/test/cli/bad-input.test.ts"
  },
  {
    "name": "lora-studio command line > finetune accepts Alpaca-LoRA's flags with their defaults in the help",
    "file": "/work/main/test/cli/cli.test.ts"
  },
  {
    "name": "lora-studio command line > reports bad input as one clear line and a non-zero exit",
    "file": "/work/main/test/cli/cli.test.ts"
  },
  {
    "name": "lora-studio command line > inspect and generate work on a model folder (the tiny model written by the test)",
    "file": "/work/main/test/cli/cli.test.ts"
  },
  {
    "name": "lora-studio command line > generate prints the greedy answer the engine gives for the same prompt (the tiny model)",
    "file": "/work/main/test/cli/cli.test.ts"
  },
  {
    "name": "lora-studio command line > auto on a Linux machine without a GPU says why it skipped each faster backend, without Vulkan noise",
    "file": "/work/main/test/cli/cli.test.ts"
  },
  {
    "name": "lora-studio command line > serve prints a tokened address, answers the API with the token and refuses it without",
    "file": "/work/main/test/cli/cli.test.ts"
  },
  {
    "name": "lora-studio command line > the demo fine-tunes its own model and then answers its questions",
    "file": "/work/main/test/cli/cli.test.ts"
  },
  {
    "name": "the demo's output folder > is made when absent, and cleared on the next run because it carries the marker",
    "file": "/work/main/test/cli/demo-folder.test.ts"
  },
  {
    "name": "the demo's output folder > takes an empty folder",
    "file": "/work/main/test/cli/demo-folder.test.ts"
  },
  {
    "name": "the demo's output folder > refuses a folder holding files it did not write, and keeps them",
    "file": "/work/main/test/cli/demo-folder.test.ts"
  },
  {
    "name": "the demo's output folder > refuses a file",
    "file": "/work/main/test/cli/demo-folder.test.ts"
  },
  {
    "name": "flags built from a zod schema > takes plain decimal numbers only, refusing the rest as commander argument errors",
    "file": "/work/main/test/cli/schema-flags.test.ts"
  },
  {
    "name": "flags built from a zod schema > checks the whole set with the schema, naming the flag; required fields are mandatory flags",
    "file": "/work/main/test/cli/schema-flags.test.ts"
  },
  {
    "name": "xoshiro128** PRNG > matches the reference algorithm's first outputs for a given state",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "xoshiro128** PRNG > state saved and restored continues the same stream",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "xoshiro128** PRNG > draws uniform-looking permutations; nearby seeds and epochs differ",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "validation split > is fixed by the seed, disjoint, complete, and keeps file order",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "collate > pads on the left with id 0 to a multiple of 8; labels -100 and mask 0 on padding",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "group_by_length > follows LengthGroupedSampler: megabatches of min(n / 4B, 50) × B sorted longest first, the longest first of all",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "group_by_length > megabatch size is 50 micro-batches for large sets",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "DataOrder > group_by_length=false: each epoch is a permutation, epochs differ, the last micro-batch is short",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "DataOrder > group_by_length=true: each epoch is a permutation, epochs differ, the last micro-batch is short",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "DataOrder > a cursor saved as JSON and given back continues exactly (same as an uninterrupted run)",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "DataOrder > EpochBatches serves the same micro-batches, collated",
    "file": "/work/main/test/data/batches.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > loads with the token and without CSP or script errors",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Model step: a broken folder shows the problem naming the file",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Model step: a model folder, picked with the in-page folder browser, shows its architecture",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Data step: validation report, histogram and masked/trained preview",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Training step: fields from the config schema, presets fill them",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Review → Start trains for real and the Run page draws the loss",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > killing the job process mid-training shows the error on the Run page and leaves a resumable run; the API keeps answering",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Runs: history, compare, resume a killed run and stop it",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Export: one click writes a GGUF Q8_0 that llama.cpp loads, with its verification report",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > Playground: base and fine-tuned answers side by side, streamed from a real model",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "studio in Chromium (browser mode) > switches to Simplified Chinese",
    "file": "/work/main/test/e2e/studio-browser.test.ts"
  },
  {
    "name": "merge and export a tiny LLaMA + a trained adapter > the merged f32 checkpoint reloads and gives base + adapter logits within 1e-5 relative; f16 within 2e-3",
    "file": "/work/main/test/export/export.test.ts"
  },
  {
    "name": "merge and export a tiny LLaMA + a trained adapter > shards respect --max_shard_size and the index totals match",
    "file": "/work/main/test/export/export.test.ts"
  },
  {
    "name": "merge and export a tiny LLaMA + a trained adapter > an export that fails midway leaves no output and no temp folder, with a clear message",
    "file": "/work/main/test/export/export.test.ts"
  },
  {
    "name": "merge and export a tiny LLaMA + a trained adapter > llama.cpp generates our engine's greedy tokens from the merged F32 GGUF; Q8_0 agrees for 32 tokens",
    "file": "/work/main/test/export/export.test.ts"
  },
  {
    "name": "merge and export a tiny LLaMA + a trained adapter > int8 (bitsandbytes layout) dequantizes within half a step and keeps norms and embeddings f16",
    "file": "/work/main/test/export/export.test.ts"
  },
  {
    "name": "merge and export a tiny LLaMA + a trained adapter > the state dict has Meta's names and q/k back in interleaved RoPE order",
    "file": "/work/main/test/export/export.test.ts"
  },
  {
    "name": "merge and export a tiny LLaMA + a trained adapter > refuses mismatched adapters with messages that name the tensor",
    "file": "/work/main/test/export/export.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → HF shards (f16, 0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → HF shards (f16, 2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → HF shards (bf16, 0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → HF shards (bf16, 2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → HF shards (f32, 0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → HF shards (f32, 2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → GGUF q8_0, with its per-tensor error report; llama.cpp loads it (0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → GGUF q8_0, with its per-tensor error report; llama.cpp loads it (2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → GGUF f16, with its per-tensor error report; llama.cpp loads it (0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → GGUF f16, with its per-tensor error report; llama.cpp loads it (2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → GGUF f32, with its per-tensor error report; llama.cpp loads it (0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → GGUF f32, with its per-tensor error report; llama.cpp loads it (2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → Meta's state dict (f16, q/k permuted back; 0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → Meta's state dict (f16, q/k permuted back; 2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → int8 (bitsandbytes layout), with its per-projection error report (0 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → int8 (bitsandbytes layout), with its per-projection error report (2 worker threads)",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "export bytes are unchanged by the streaming exporters > merge → GGUF Q8_0 with a SentencePiece tokenizer with merges; llama.cpp loads it",
    "file": "/work/main/test/export/export-bytes.test.ts"
  },
  {
    "name": "streaming merge + export > a checkpoint several times larger than the bound merges in a child process whose peak RSS stays under it",
    "file": "/work/main/test/export/streaming.test.ts"
  },
  {
    "name": "SentencePiece-style vocabulary with merges (written here) > becomes a \"llama\" vocabulary: unknown, control and byte token types, BOS/EOS/UNK ids, add_bos",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "SentencePiece-style vocabulary with merges (written here) > llama.cpp's SPM tokenizer on our vocab-only GGUF gives the ids @huggingface/tokenizers gives (merges, byte fallback); a full load of it fails",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "byte-level BPE (LLaMA 3 style) vocabulary > becomes a \"gpt2\" vocabulary with merges, the llama-bpe pre-tokenizer, control tokens and the chat template",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "byte-level BPE (LLaMA 3 style) vocabulary > llama.cpp's BPE tokenizer on our GGUF gives the ids @huggingface/tokenizers gives (digit groups, spaces, newlines, UTF-8)",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "tokenizer metadata helpers > takes special tokens from special_tokens_map.json when tokenizer_config.json has none, and names bad JSON files",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "tokenizer metadata helpers > keeps SentencePiece order scores when the merge list agrees with them",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "tokenizer metadata helpers > derives scores from merge ranks when the vocabulary order disagrees with the merges",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "tokenizer metadata helpers > names the pre-tokenizer llama.cpp should use",
    "file": "/work/main/test/formats/gguf-tokenizer.test.ts"
  },
  {
    "name": "GGUF export of a tiny LLaMA > f32: @huggingface/gguf reads the llama keys with their types, and the same layout as our reader",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "GGUF export of a tiny LLaMA > f16: @huggingface/gguf reads the llama keys with their types, and the same layout as our reader",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "GGUF export of a tiny LLaMA > q8_0: @huggingface/gguf reads the llama keys with their types, and the same layout as our reader",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "GGUF export of a tiny LLaMA > our reader gives back each file's values: exact F32 (q/k permuted), F16 rounding, Q8_0 blocks, with the error reported",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "GGUF export of a tiny LLaMA > llama.cpp's own SPM tokenizer, run on the vocabulary and scores we wrote, agrees with tokenizer.json",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "GGUF export of a tiny LLaMA > our engine generates the same 80 greedy tokens as llama.cpp",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "GGUF export of a tiny LLaMA > our next-token log-probabilities equal llama.cpp's over the whole vocabulary within 1e-4 (F32 KV cache)",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "RoPE permutation > moves HF rotate-half rows (i, i + d/2) to interleaved pairs (2i, 2i + 1) per head, and back",
    "file": "/work/main/test/formats/gguf-export.test.ts"
  },
  {
    "name": "f16 > decodes hand-computed halves exactly",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "f16 > encodes hand-computed values with round-to-nearest-even, subnormals, overflow, inf and NaN",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "f16 > round-trips all 65536 half bit patterns exactly (NaN payloads included)",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "f16 > matches the reference rounding on random floats and on every midpoint between halves",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "f16 > the array encoder's fast path equals the scalar encoder on 16M bit patterns spread over every exponent and sign",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "bf16 > decodes by shifting into the high half",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "bf16 > encodes with round-to-nearest-even and keeps NaN a NaN",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "bf16 > round-trips every non-NaN bf16 pattern and matches the reference on random floats",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "typed-array helpers > knows each dtype size",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "typed-array helpers > decodes little-endian bytes, also from an unaligned view, and copies F32",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "typed-array helpers > encodes F32, F16 and BF16 as little-endian bytes",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "agrees with numpy and PyTorch > on 60000 f32 bit patterns",
    "file": "/work/main/test/formats/dtypes.test.ts"
  },
  {
    "name": "exports on worker threads > HF shards (f16): a merge that overflows on a worker thread names the tensor and leaves nothing",
    "file": "/work/main/test/export/parallel-export.test.ts"
  },
  {
    "name": "exports on worker threads > GGUF Q8_0: a merge that overflows on a worker thread names the tensor and leaves nothing",
    "file": "/work/main/test/export/parallel-export.test.ts"
  },
  {
    "name": "exports on worker threads > int8: a merge that overflows on a worker thread names the tensor and leaves nothing",
    "file": "/work/main/test/export/parallel-export.test.ts"
  },
  {
    "name": "exports on worker threads > HF shards (f16): a worker thread that dies half-way fails the export with a clear error and leaves nothing",
    "file": "/work/main/test/export/parallel-export.test.ts"
  },
  {
    "name": "exports on worker threads > GGUF Q8_0: a worker thread that dies half-way fails the export with a clear error and leaves nothing",
    "file": "/work/main/test/export/parallel-export.test.ts"
  },
  {
    "name": "exports on worker threads > int8: a worker thread that dies half-way fails the export with a clear error and leaves nothing",
    "file": "/work/main/test/export/parallel-export.test.ts"
  },
  {
    "name": "RoPE scaling in GGUF exports > llama3: llama.cpp and our engine give the same log-probabilities",
    "file": "/work/main/test/formats/gguf-rope.test.ts"
  },
  {
    "name": "RoPE scaling in GGUF exports > linear: llama.cpp and our engine give the same log-probabilities",
    "file": "/work/main/test/formats/gguf-rope.test.ts"
  },
  {
    "name": "safetensors reader under fuzzing > accepts every file the writer can produce, with the same tensors",
    "file": "/work/main/test/formats/safetensors-fuzz.test.ts"
  },
  {
    "name": "safetensors reader under fuzzing > throws only FormatError on random bytes",
    "file": "/work/main/test/formats/safetensors-fuzz.test.ts"
  },
  {
    "name": "safetensors reader under fuzzing > throws only FormatError on mutated valid files (bit flips, byte edits, truncation, extension)",
    "file": "/work/main/test/formats/safetensors-fuzz.test.ts"
  },
  {
    "name": "safetensors reader under fuzzing > throws only FormatError on header text edits (numbers, dtypes, keys, structure)",
    "file": "/work/main/test/formats/safetensors-fuzz.test.ts"
  },
  {
    "name": "safetensors reader under fuzzing > gives the same answer from disk, never allocating for a bogus declared length",
    "file": "/work/main/test/formats/safetensors-fuzz.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.embed_tokens.weight → token_embd.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.norm.weight → output_norm.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > lm_head.weight → output.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.0.input_layernorm.weight → blk.0.attn_norm.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.3.post_attention_layernorm.weight → blk.3.ffn_norm.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.12.self_attn.q_proj.weight → blk.12.attn_q.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.1.self_attn.k_proj.weight → blk.1.attn_k.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.1.self_attn.v_proj.weight → blk.1.attn_v.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.1.self_attn.o_proj.weight → blk.1.attn_output.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.2.mlp.gate_proj.weight → blk.2.ffn_gate.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.2.mlp.up_proj.weight → blk.2.ffn_up.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > model.layers.2.mlp.down_proj.weight → blk.2.ffn_down.weight",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "HF → GGUF tensor names > refuses a tensor it has no name for",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "exportLlamaGguf checks its input > refuses a checkpoint missing a tensor llama.cpp needs",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "exportLlamaGguf checks its input > refuses a config.json that does not fit the tensors (wrong KV heads), and a non-LLaMA architecture",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "untied output head > an lm_head of its own is written as output.weight, and llama.cpp uses it as our engine does",
    "file": "/work/main/test/formats/gguf-llama.test.ts"
  },
  {
    "name": "the strict GGUF reader > accepts the well-formed file these variants are made from",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects bad magic",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects GGUF v1",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a future version",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an absurd tensor count",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an absurd key-value count",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an absurd string length",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an absurd array length",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a duplicate key",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an unknown value type",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an array of arrays",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a bool that is neither 0 nor 1",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a duplicate tensor name",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a tensor name of 64 bytes",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects more than 4 dims",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an unknown tensor type",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a type we do not decode (Q4_0)",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects Q8_0 rows that are not whole blocks",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a misaligned offset",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an aligned offset that leaves a gap",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects tensors out of order",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects an offset far beyond the file",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects too little data",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects a header cut short",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects general.alignment not a power of two",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > rejects general.alignment stored as a u64",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > reads every value type, and a custom alignment",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "the strict GGUF reader > on any corruption of a good file, either reads it or throws a FormatError (fuzzed)",
    "file": "/work/main/test/formats/gguf-reader.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=true add_eos_token=true > row 1 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=true add_eos_token=true > row 2 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=true add_eos_token=true > row 3 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=true add_eos_token=false > row 1 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=true add_eos_token=false > row 2 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=true add_eos_token=false > row 3 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=false add_eos_token=true > row 1 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=false add_eos_token=true > row 2 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=false add_eos_token=true > row 3 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=false add_eos_token=false > row 1 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=false add_eos_token=false > row 2 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > train_on_inputs=false add_eos_token=false > row 3 at every cut-off",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > the cut prompt edge: with add_eos_token the last prompt token is trained, without it nothing is",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "Alpaca-LoRA token and label layout > adds no second EOS when the output already ends with the EOS token",
    "file": "/work/main/test/data/encode.test.ts"
  },
  {
    "name": "sharded checkpoints > reads a sharded folder as one lazily read source",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > accepts an index without metadata (older tools) and with extra metadata keys (newer transformers)",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects an index that is not JSON, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects an index without weight_map, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a weight_map entry that is not a file name, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a negative total_size, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects an empty weight_map, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a shard outside the folder, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a shard that does not exist, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a tensor mapped to the wrong shard, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a mapped tensor no shard holds, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a shard tensor the weight_map omits, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a total_size that does not add up, naming the index file",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > rejects a tensor stored in two shards",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "sharded checkpoints > passes on a broken shard as the shard own error",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "model folders > reads a folder with model.safetensors, or that file given directly",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "model folders > explains no folder at all, naming the folder",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "model folders > explains an empty folder, naming the folder",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "model folders > explains pytorch_model.bin only, naming the folder",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "model folders > explains shards without their index, naming the folder",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "model folders > explains a LoRA adapter folder, naming the folder",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "model folders > explains GGUF files only, naming the folder",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "a model folder through openCheckpoint > reads a folder written by safetensors-writer, and the same tensors re-sharded by hand with an index",
    "file": "/work/main/test/formats/hf-checkpoint.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a file shorter than 8 bytes",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a header length over 100 MB",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a header length of 2^64-1",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a header length beyond the file",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a header that is not UTF-8",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a header that is not JSON",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a header that is not an object",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a tensor entry that is not an object",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a tensor entry without dtype",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects duplicate tensor names",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a duplicate key inside a tensor entry",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a duplicate metadata key",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects metadata with a non-string value",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects metadata that is not an object",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects an unknown dtype",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a spec dtype the engine does not read",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a negative dimension",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a fractional dimension",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a dimension beyond 2^53",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects an element count that overflows",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a byte size that overflows",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects malformed data_offsets",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects end - begin ≠ elements × dtype size",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects end before begin",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects offsets that do not start at 0",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a gap between tensors",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects overlapping tensors",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects bytes after the last tensor",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects bytes after a header with no tensors",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > rejects a file shorter than the header says",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > accepts padded headers, zero-size tensors, null metadata, extra entry fields and an empty file",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > finds duplicate keys at any depth, and none in valid JSON with tricky strings",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: one failing file per rule > refuses a folder and a missing file with the path in the message",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: lazy positioned reads > reads nothing but the header at open, and each tensor from its own bytes when asked",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors reader: lazy positioned reads > names the file and tensor when the file shrinks after open",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > writes the exact bytes the spec prescribes for a tiny file",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > round-trips F32, F16, BF16, I8, U8, zero-size tensors and metadata",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > makes lazy tensors in name order, at most one ahead of the one being written",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > rejects bad input before creating anything, naming the file",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > leaves no file and no temp file when a lazy tensor throws",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > leaves no file and no temp file when a lazy tensor has the wrong length",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > leaves no file and no temp file when the hook after a tensor throws",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > leaves no file and no temp file when the rename is interrupted",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "safetensors writer > keeps the old file intact when overwriting it fails",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "atomic writes > writeFileAtomic replaces the file whole, and leaves nothing on failure",
    "file": "/work/main/test/formats/safetensors.test.ts"
  },
  {
    "name": "an Alpaca JSON file like the real ones > keeps duplicates and reports each with the row it repeats; drops extra fields; keeps Chinese text as it is",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "JSON lines > detects JSON lines and numbers rows by line (blank lines, CRLF, BOM)",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "JSON lines > skips a line that is not JSON with on_bad_rows 'skip' and reports it; 'stop' names it",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "JSON lines > names the line of a bad row",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "bad rows > reports each with its row, field and reason, and skips the errors",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "bad rows > 'stop' throws a FormatError naming the file and the first bad row",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > empty.json",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > empty-array.json",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > broken.json",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > text.txt",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > number.json",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > wrapped.json",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > allbad.jsonl",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > allbad.json",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > a missing file or a folder",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "files that are not Alpaca data > a single row object on one line is one row",
    "file": "/work/main/test/data/dataset.test.ts"
  },
  {
    "name": "Prng.fill > draws the same words as nextUint32, and the stream continues the same afterwards",
    "file": "/work/main/test/data/prng-fill.test.ts"
  },
  {
    "name": "dataset statistics > bins lengths against cutoff_len, counts the cut and the masked/trained labels",
    "file": "/work/main/test/data/stats.test.ts"
  },
  {
    "name": "dataset statistics > lists over-long rows as warnings and says when no response token is left",
    "file": "/work/main/test/data/stats.test.ts"
  },
  {
    "name": "dataset statistics > on 100 rows with the tiny tokenizer: the counts add up",
    "file": "/work/main/test/data/stats.test.ts"
  },
  {
    "name": "Q8_0 (ggml quantize_row_q8_0_ref) > stores d = max|x| / 127 as f16 and rounds x / d half away from zero, as C roundf does",
    "file": "/work/main/test/formats/gguf-q8-0.test.ts"
  },
  {
    "name": "Q8_0 (ggml quantize_row_q8_0_ref) > an all-zero block has d = 0 and zeros, and the negative extreme maps to -127",
    "file": "/work/main/test/formats/gguf-q8-0.test.ts"
  },
  {
    "name": "Q8_0 (ggml quantize_row_q8_0_ref) > each value is within d/2 of q·d (d the f32 scale), and the f16 scale adds at most 127·|d - f16(d)|",
    "file": "/work/main/test/formats/gguf-q8-0.test.ts"
  },
  {
    "name": "Q8_0 (ggml quantize_row_q8_0_ref) > refuses rows that are not a multiple of 32 long, and short buffers",
    "file": "/work/main/test/formats/gguf-q8-0.test.ts"
  },
  {
    "name": "Q8_0 (ggml quantize_row_q8_0_ref) > reports max and mean absolute error",
    "file": "/work/main/test/formats/gguf-q8-0.test.ts"
  },
  {
    "name": "Alpaca-LoRA's template files > has exactly the four built-ins, each loaded by its name",
    "file": "/work/main/test/data/templates.test.ts"
  },
  {
    "name": "generatePrompt and getResponse (Prompter) > uses prompt_input only for a non-empty input and appends a non-empty label",
    "file": "/work/main/test/data/templates.test.ts"
  },
  {
    "name": "generatePrompt and getResponse (Prompter) > fills in one pass, as Python's str.format: braces and $ in the user's text stay as they are",
    "file": "/work/main/test/data/templates.test.ts"
  },
  {
    "name": "generatePrompt and getResponse (Prompter) > get_response takes the text between the first and the second marker, stripped",
    "file": "/work/main/test/data/templates.test.ts"
  },
  {
    "name": "custom template files > loads a valid one (description optional)",
    "file": "/work/main/test/data/templates.test.ts"
  },
  {
    "name": "custom template files > names the file and what is wrong",
    "file": "/work/main/test/data/templates.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > Q8_0 in wasm SIMD and in the JS loops: the same bytes and the same error tally, NaN, ±0, ±Inf and subnormals included",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > Q8_0 in wasm SIMD: blocks whose scale is subnormal in f16 or f32, whose 1/d overflows, or which round across int8",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > the F16 tally adds in the documented order: a row's blocks of 32 (8 running sums), then its last values one by one",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > bf16 → Q8_0 and → F16 pieces (rows decoded and encoded in the wasm kernels) equal the JS path, merged or not",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > the merge: the same f32 bits for ranks 1 to 20, zero coefficients and a NaN or Inf in A included",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > bf16 → f16 straight, in JS and in wasm: every one of the 65536 bf16 values gives the half its f32 value gives",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > f32 → f16 with its error tally, in wasm: the bits and tally of the JS loops for any f32 bits (NaN payloads, subnormals, ties)",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "export kernels match the plain loops they replaced > a piece encoded a group of rows at a time equals the whole piece merged, permuted and encoded at once",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "the hand-written wasm kernels > each generated module carries what `npm run build:wasm` assembles from its .wat today",
    "file": "/work/main/test/formats/export-kernels.test.ts"
  },
  {
    "name": "an export never overwrites and never writes into its input > quantize --output refuses the model's own files, any existing file, and an existing Modelfile beside it",
    "file": "/work/main/test/export/output-guard.test.ts"
  },
  {
    "name": "an export never overwrites and never writes into its input > merge, state dict and int8 refuse an output inside the model or adapter folder, or a file as output_dir",
    "file": "/work/main/test/export/output-guard.test.ts"
  },
  {
    "name": "an export never overwrites and never writes into its input > writes to a new path as before",
    "file": "/work/main/test/export/output-guard.test.ts"
  },
  {
    "name": "GGUF writer > writes every value type so that @huggingface/gguf and our reader read back the same types and values",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > lays tensors out at aligned, packed offsets with zero padding, honouring general.alignment",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > reads back F32 values exactly",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses a u8 of 256 and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses a u32 that is not an integer and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses a negative u64 and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses a string array holding a number and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses a duplicate key and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses an alignment that is not a power of two and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses an alignment stored as u64 and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses a duplicate tensor and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses 5 dims and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses a 64-byte name and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses Q8_0 rows of 48 and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > refuses data of the wrong size and leaves no file behind",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "GGUF writer > a data callback that throws leaves the previous file untouched",
    "file": "/work/main/test/formats/gguf-writer.test.ts"
  },
  {
    "name": "fs errors become StudioErrors that name the path and say what to do > an output folder that is a file (EEXIST / ENOTDIR)",
    "file": "/work/main/test/engine/fs-errors.test.ts"
  },
  {
    "name": "fs errors become StudioErrors that name the path and say what to do > a folder under /proc (ENOENT on mkdir)",
    "file": "/work/main/test/engine/fs-errors.test.ts"
  },
  {
    "name": "fs errors become StudioErrors that name the path and say what to do > readGguf on a missing file",
    "file": "/work/main/test/engine/fs-errors.test.ts"
  },
  {
    "name": "fs errors become StudioErrors that name the path and say what to do > tells reading from creating by the syscall when the caller does not say",
    "file": "/work/main/test/engine/fs-errors.test.ts"
  },
  {
    "name": "fs errors become StudioErrors that name the path and say what to do > leaves other errors alone",
    "file": "/work/main/test/engine/fs-errors.test.ts"
  },
  {
    "name": "on real small mounts (tmpfs) > a full disk names the file being written and leaves no temp file",
    "file": "/work/main/test/engine/fs-errors.test.ts"
  },
  {
    "name": "on real small mounts (tmpfs) > a read-only file system says so",
    "file": "/work/main/test/engine/fs-errors.test.ts"
  },
  {
    "name": "the synthetic PEFT adapter > loads through the strict PEFT reader, and its merge moves a GQA base by the share its comment promises",
    "file": "/work/main/test/engine/synthetic-adapter.test.ts"
  },
  {
    "name": "the synthetic-model generator > f32: each tensor is its own stream, uniform in ±√(3 / fan-in) as one prng.next() per value would draw it; norms 1",
    "file": "/work/main/test/engine/synthetic-model.test.ts"
  },
  {
    "name": "the synthetic-model generator > bf16 and f16, sharded: an index transformers reads, every tensor the config implies, the same distribution",
    "file": "/work/main/test/engine/synthetic-model.test.ts"
  },
  {
    "name": "the synthetic-model generator > the same seed gives the same weights in one file or in shards; another seed, other weights",
    "file": "/work/main/test/engine/synthetic-model.test.ts"
  },
  {
    "name": "sampling > greedy takes the argmax (first on ties)",
    "file": "/work/main/test/generate/sampling.test.ts"
  },
  {
    "name": "sampling > repetition penalty divides positive and multiplies negative logits of seen tokens (HF)",
    "file": "/work/main/test/generate/sampling.test.ts"
  },
  {
    "name": "sampling > top-k 1 is greedy whatever the draw",
    "file": "/work/main/test/generate/sampling.test.ts"
  },
  {
    "name": "sampling > top-p keeps the smallest head reaching p",
    "file": "/work/main/test/generate/sampling.test.ts"
  },
  {
    "name": "sampling > draws in proportion to the probabilities",
    "file": "/work/main/test/generate/sampling.test.ts"
  },
  {
    "name": "a model folder with an absurd config.json > is refused by model.inspect and finetune.estimate at once, naming config.json (it used to freeze the server)",
    "file": "/work/main/test/studio/absurd-config.test.ts"
  },
  {
    "name": "contract and createApi > lists every call the brief asks for",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > the zod-free name list for preload matches the contract",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > passes a valid request, with defaults filled, to its handler",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > passes a settings patch as it is, without defaults for the fields it leaves out",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > rejects an invalid request with status 400 naming the field",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > refuses an unknown call and a reply that breaks the contract",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > reports engine input errors as 400 with the file named",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > chooses statuses by class, never by the name string",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "contract and createApi > checks job events, including the training report",
    "file": "/work/main/test/studio/contract.test.ts"
  },
  {
    "name": "native file pickers (Electron dialog options, checked without the binary) > asks for one folder, or one file filtered by extension with an escape hatch",
    "file": "/work/main/test/studio/dialogs.test.ts"
  },
  {
    "name": "native file pickers (Electron dialog options, checked without the binary) > returns the chosen path, null when cancelled or when there is no window",
    "file": "/work/main/test/studio/dialogs.test.ts"
  },
  {
    "name": "window options > isolates and sandboxes the page",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "window options > createMainWindow uses exactly these options, hardens the contents and loads the app:// page",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "navigation, new windows, webviews > refuses navigation away from app://studio",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "navigation, new windows, webviews > denies every new window and webview",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "navigation, new windows, webviews > knows its own origin exactly",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "session: permissions and CSP > denies every permission request and check",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "session: permissions and CSP > puts the strict CSP on every response, replacing a looser one",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "app:// protocol > registers app:// as a standard secure scheme",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "app:// protocol > serves renderer files with the CSP, and nothing outside the renderer",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "IPC > registers exactly one channel per contract call, nothing else",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "IPC > answers our page with a valid request",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "IPC > refuses a sender frame that is not our app:// page",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "IPC > refuses a subframe, even one of our own app:// pages, as VS Code does (senderFrame.parent !== null)",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "IPC > refuses a frame that is not its web contents' main frame (a stale or swapped frame)",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "IPC > refuses a payload that breaks the schema",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "menu and settings > builds a menu without developer tools unless asked",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "menu and settings > keeps settings in electron-store through the schema",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "only main/electron imports electron > keeps engine, jobs, api, server and renderer free of electron",
    "file": "/work/main/test/studio/electron-security.test.ts"
  },
  {
    "name": "nvidia-smi stats > asks for the seven columns in csv without header or units",
    "file": "/work/main/test/studio/gpu-stats.test.ts"
  },
  {
    "name": "nvidia-smi stats > parses each GPU line",
    "file": "/work/main/test/studio/gpu-stats.test.ts"
  },
  {
    "name": "nvidia-smi stats > turns [N/A] and [Not Supported] into null, not 0",
    "file": "/work/main/test/studio/gpu-stats.test.ts"
  },
  {
    "name": "nvidia-smi stats > refuses a line with the wrong number of fields",
    "file": "/work/main/test/studio/gpu-stats.test.ts"
  },
  {
    "name": "nvidia-smi stats > says plainly when nvidia-smi is absent or fails",
    "file": "/work/main/test/studio/gpu-stats.test.ts"
  },
  {
    "name": "nvidia-smi stats > runs the real nvidia-smi when there is one, and otherwise reports its absence",
    "file": "/work/main/test/studio/gpu-stats.test.ts"
  },
  {
    "name": "renderer strings > Chinese has exactly the English keys, none empty",
    "file": "/work/main/test/studio/i18n.test.ts"
  },
  {
    "name": "renderer strings > every translation keeps the interpolation placeholders",
    "file": "/work/main/test/studio/i18n.test.ts"
  },
  {
    "name": "renderer strings > the page titles are translated, not copied",
    "file": "/work/main/test/studio/i18n.test.ts"
  },
  {
    "name": "renderer strings > every fine-tuning setting has its help in Chinese too (English comes from the config schema)",
    "file": "/work/main/test/studio/i18n.test.ts"
  },
  {
    "name": "job host > runs queued jobs one after another, in order, with typed events",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > reports a crashed worker as failed with its last output, and runs the next job",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > reports a thrown error with its stack in the last output",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > reports a StudioError by its message alone: no JS stack in the last output",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > stops a running job (SIGTERM) and removes a queued one",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > kills a job that ignores SIGTERM once the grace time is over",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > refuses a kind this build cannot run",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > refuses bad export settings before any process starts, naming the field",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > refuses unknown fine-tuning and selftest settings by name, as --config does, before any process starts",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "job host > runs a playground (generate) job beside a running training-lane job, and its error names the folder",
    "file": "/work/main/test/studio/job-host.test.ts"
  },
  {
    "name": "a tiny LLaMA over a quantized base (wasm, matrices on the host) > a f32 base lowers the validation loss",
    "file": "/work/main/test/train/quantized-base.test.ts"
  },
  {
    "name": "a tiny LLaMA over a quantized base (wasm, matrices on the host) > a int8 base lowers the validation loss",
    "file": "/work/main/test/train/quantized-base.test.ts"
  },
  {
    "name": "a tiny LLaMA over a quantized base (wasm, matrices on the host) > a nf4 base lowers the validation loss",
    "file": "/work/main/test/train/quantized-base.test.ts"
  },
  {
    "name": "a tiny LLaMA over a quantized base (wasm, matrices on the host) > the int8 and nf4 runs lower the loss by the share the f32 run does, and end near it",
    "file": "/work/main/test/train/quantized-base.test.ts"
  },
  {
    "name": "a tiny LLaMA over a quantized base (wasm, matrices on the host) > an nf4 run stopped after step 2 and resumed equals the uninterrupted run, bit for bit",
    "file": "/work/main/test/train/quantized-base.test.ts"
  },
  {
    "name": "a tiny LLaMA over a quantized base (wasm, matrices on the host) > the int8-trained adapter merges into the full-precision base: the merged model equals f32 base + adapter, and the report says so",
    "file": "/work/main/test/train/quantized-base.test.ts"
  },
  {
    "name": "the base_dtype setting > defaults to auto; load_in_8bit and load_in_4bit mean int8 and nf4; frozen_dtype is read as base_dtype",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "the base_dtype setting > refuses contradicting spellings and unknown modes, naming them",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "the memory estimate per mode > holds a host-placed base at its bytes per weight outside the wasm heap, 16-bit embeddings and lm_head",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "the memory estimate per mode > auto tries the checkpoint as stored, then int8, then nf4",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "the memory estimate per mode > refuses before loading, with the figures, when nothing fits the wasm heap (lora_r 100000)",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "the memory estimate per mode > names the mode auto chose and why",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "bad input gets one clear line before step 1 > a checkpoint whose weights are not a float type, or whose values f16 cannot hold",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "bad input gets one clear line before step 1 > a model that does not fit: finetune refuses micro_batch_size 20000 before loading any weight",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "bad input gets one clear line before step 1 > on the command line: --load_in_4bit is accepted, and a run that cannot fit ends in one line naming the figures",
    "file": "/work/main/test/model/base-dtype.test.ts"
  },
  {
    "name": "browser-mode server > requires the token on every call",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > rejects schema-invalid requests with 400 and a message, unknown calls with 404",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > serves the renderer with a CSP, never a file outside it",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > streams job events over the WebSocket, only with the token",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > answers system.gpu with GPU readings or the plain \"no NVIDIA GPU\" line, plus process memory",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > jobs.start checks each kind's settings with its own strict schema: unknown keys are refused by name, nothing starts",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > answers a body over 1 MiB with 413 and a JSON error, not a reset (with and without Content-Length)",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > with allow_remote on 0.0.0.0 prints addresses a browser can use and warns that the token travels in plain HTTP",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "browser-mode server > refuses to listen on a non-loopback address unless asked, naming the real flag",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > inspect a missing folder",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > check a missing data file",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > check a truncated data file",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > check a garbage data file",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > check a folder as data",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > estimate on a missing model",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > estimate on a garbage config.json",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > estimate with an unknown module",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > list a missing folder",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > start a job with a non-number",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > start a job with top_p 5",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack > set an unknown language",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "engine calls over HTTP (files on disk) > inspects a model folder",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "engine calls over HTTP (files on disk) > names the broken file of a broken model folder",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "engine calls over HTTP (files on disk) > checks a data file with token statistics and a masked/trained preview",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "settings form fields > come from the engine config schema with defaults and help",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "memory estimate and file picking > estimates training memory from the model config and the settings, growing with the micro batch",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "memory estimate and file picking > lists a folder for the in-page picker (folders first, hidden entries left out) and has no native dialog",
    "file": "/work/main/test/studio/server.test.ts"
  },
  {
    "name": "just-in-time dequantized matmul (wasm) > dequantizes straight into Wᵀ: the transpose of the row-major dequantization, for a width that is no multiple of the tile",
    "file": "/work/main/test/model/jit-matmul.test.ts"
  },
  {
    "name": "just-in-time dequantized matmul (wasm) > dequantizes a range of rows straight into its Wᵀ piece",
    "file": "/work/main/test/model/jit-matmul.test.ts"
  },
  {
    "name": "just-in-time dequantized matmul (wasm) > f32: x·Wᵀ and dx = dy·W equal f32 matmuls of the dequantized W within float rounding, and free every transient tensor",
    "file": "/work/main/test/model/jit-matmul.test.ts"
  },
  {
    "name": "just-in-time dequantized matmul (wasm) > bf16: x·Wᵀ and dx = dy·W equal f32 matmuls of the dequantized W within float rounding, and free every transient tensor",
    "file": "/work/main/test/model/jit-matmul.test.ts"
  },
  {
    "name": "just-in-time dequantized matmul (wasm) > f16: x·Wᵀ and dx = dy·W equal f32 matmuls of the dequantized W within float rounding, and free every transient tensor",
    "file": "/work/main/test/model/jit-matmul.test.ts"
  },
  {
    "name": "just-in-time dequantized matmul (wasm) > int8: x·Wᵀ and dx = dy·W equal f32 matmuls of the dequantized W within float rounding, and free every transient tensor",
    "file": "/work/main/test/model/jit-matmul.test.ts"
  },
  {
    "name": "just-in-time dequantized matmul (wasm) > nf4: x·Wᵀ and dx = dy·W equal f32 matmuls of the dequantized W within float rounding, and free every transient tensor",
    "file": "/work/main/test/model/jit-matmul.test.ts"
  },
  {
    "name": "paths as the pages show them > shortPath: under the home folder as ~/…, anything else unchanged",
    "file": "/work/main/test/studio/paths.test.ts"
  },
  {
    "name": "paths as the pages show them > a home folder that is a root stands for nothing",
    "file": "/work/main/test/studio/paths.test.ts"
  },
  {
    "name": "paths as the pages show them > shortPathsIn: every whole path prefix in a log line, and nothing else",
    "file": "/work/main/test/studio/paths.test.ts"
  },
  {
    "name": "preload > exposes only window.studio",
    "file": "/work/main/test/studio/preload.test.ts"
  },
  {
    "name": "preload > has one method per contract call plus onEvent, and nothing else",
    "file": "/work/main/test/studio/preload.test.ts"
  },
  {
    "name": "preload > never hands the page ipcRenderer or any of its functions",
    "file": "/work/main/test/studio/preload.test.ts"
  },
  {
    "name": "preload > each method invokes its own channel only",
    "file": "/work/main/test/studio/preload.test.ts"
  },
  {
    "name": "preload > turns a refused call into an Error with its message",
    "file": "/work/main/test/studio/preload.test.ts"
  },
  {
    "name": "preload > onEvent passes event data only, not the IPC event, and unsubscribes",
    "file": "/work/main/test/studio/preload.test.ts"
  },
  {
    "name": "preload > the renderer never mentions ipcRenderer",
    "file": "/work/main/test/studio/preload.test.ts"
  },
  {
    "name": "run registry > lists runs newest first with steps, losses, checkpoints and status",
    "file": "/work/main/test/studio/run-registry.test.ts"
  },
  {
    "name": "run registry > reads the metrics of one run",
    "file": "/work/main/test/studio/run-registry.test.ts"
  },
  {
    "name": "run registry > shows each step of a resumed run once, and names a metrics line of the wrong shape",
    "file": "/work/main/test/studio/run-registry.test.ts"
  },
  {
    "name": "run registry > deletes a run and refuses ids that would leave the runs folder",
    "file": "/work/main/test/studio/run-registry.test.ts"
  },
  {
    "name": "runs.delete > refuses a run that a job is training, names the job, and deletes once it has stopped",
    "file": "/work/main/test/studio/runs-delete.test.ts"
  },
  {
    "name": "Chinese text round-trips > the tiny tokenizer: encode → decode and the stream decoder give the text back, byte pieces included",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "Chinese text round-trips > spells unknown characters with byte tokens, and the stream holds a character back until its last byte",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "stream decoder > keeps the space after a skipped special token (SentencePiece strips only the very first one)",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "stream decoder > pushes plus flush equal decode(all) for any id sequence (fast-check)",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "special tokens of a SentencePiece-style tokenizer > reads BOS/EOS/UNK and add_bos_token; encodes with and without them; decodes with and without special tokens",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "tokenizer files > names the file when tokenizer.json is missing, not JSON, or not a tokenizer",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "tokenizer files > names a broken tokenizer_config.json; takes ids from special_tokens_map.json and generation_config.json",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "chat templates > renders a template written here, with the special tokens and the generation prompt",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "chat templates > passes a template's raise_exception message on, naming tokenizer_config.json",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "chat templates > says so when there is no chat template",
    "file": "/work/main/test/tokenizer/tokenizer.test.ts"
  },
  {
    "name": "checkpoint directories > writes a complete checkpoint with a manifest that verifies",
    "file": "/work/main/test/train/checkpoint.test.ts"
  },
  {
    "name": "checkpoint directories > leaves nothing behind when writing fails midway",
    "file": "/work/main/test/train/checkpoint.test.ts"
  },
  {
    "name": "checkpoint directories > detects a corrupted or truncated file and a missing manifest, and falls back to the previous good one",
    "file": "/work/main/test/train/checkpoint.test.ts"
  },
  {
    "name": "checkpoint directories > removes stale temp folders and prunes old checkpoints but keeps the protected one",
    "file": "/work/main/test/train/checkpoint.test.ts"
  },
  {
    "name": "dropout mask seeds > differ for every draw of three Alpaca-default steps",
    "file": "/work/main/test/train/dropout-seeds.test.ts"
  },
  {
    "name": "dropout mask seeds > are a pure function of the draw, so a resumed run draws the same masks; the draw the old formula confused gets another mask",
    "file": "/work/main/test/train/dropout-seeds.test.ts"
  },
  {
    "name": "fine-tuning settings checked against the model, and progress within long steps > refuses cutoff_len above the model's context, naming its config.json, before making the run folder",
    "file": "/work/main/test/train/finetune-guards.test.ts"
  },
  {
    "name": "fine-tuning settings checked against the model, and progress within long steps > reports each micro-batch of a step that takes long",
    "file": "/work/main/test/train/finetune-guards.test.ts"
  },
  {
    "name": "fine-tuning a tiny LLaMA > on en rows lowers the validation loss; the adapter reloads with the same logits",
    "file": "/work/main/test/train/finetune.test.ts"
  },
  {
    "name": "fine-tuning a tiny LLaMA > on zh rows lowers the validation loss; the adapter reloads with the same logits",
    "file": "/work/main/test/train/finetune.test.ts"
  },
  {
    "name": "fine-tuning a tiny LLaMA > N steps, then resume, then N more steps equals 2N steps uninterrupted, bit for bit",
    "file": "/work/main/test/train/finetune.test.ts"
  },
  {
    "name": "fine-tuning a tiny LLaMA > refuses a corrupted checkpoint by name and resumes from the previous good one",
    "file": "/work/main/test/train/finetune.test.ts"
  },
  {
    "name": "fine-tuning a tiny LLaMA > stops with a clear message when the loss is not finite, keeping the last good checkpoint",
    "file": "/work/main/test/train/finetune.test.ts"
  },
  {
    "name": "fine-tuning a tiny LLaMA > rejects bad settings naming the field",
    "file": "/work/main/test/train/finetune.test.ts"
  },
  {
    "name": "gradient checkpointing > gives the plain pass's loss and gradients (dropout 0.1, a resident f32 base)",
    "file": "/work/main/test/train/gradient-checkpointing.test.ts"
  },
  {
    "name": "gradient checkpointing > gives the plain pass's loss and gradients (dropout 0.1, an nf4 base held on the host)",
    "file": "/work/main/test/train/gradient-checkpointing.test.ts"
  },
  {
    "name": "gradient checkpointing > keeps fewer bytes alive at the peak of a step",
    "file": "/work/main/test/train/gradient-checkpointing.test.ts"
  },
  {
    "name": "gradient checkpointing > is on by default for quantized and host-held bases, off otherwise, and the user decides when asked",
    "file": "/work/main/test/train/gradient-checkpointing.test.ts"
  },
  {
    "name": "LoRA gradients on a tiny LLaMA > equal PyTorch autograd on the same weights and batch within 1e-4 relative",
    "file": "/work/main/test/train/gradients.test.ts"
  },
  {
    "name": "LoRA gradients on a tiny LLaMA > over a int8 base, dequantized just in time, equal PyTorch autograd on the same dequantized weights within 1e-4 relative",
    "file": "/work/main/test/train/gradients.test.ts"
  },
  {
    "name": "LoRA gradients on a tiny LLaMA > over a nf4 base, dequantized just in time, equal PyTorch autograd on the same dequantized weights within 1e-4 relative",
    "file": "/work/main/test/train/gradients.test.ts"
  },
  {
    "name": "LoRA gradients on a tiny LLaMA > pass a central finite-difference check",
    "file": "/work/main/test/train/gradients.test.ts"
  },
  {
    "name": "training memory estimate > is within a factor of two of tfjs's measured peak for a real step, and grows with batch and length",
    "file": "/work/main/test/train/memory-estimate.test.ts"
  },
  {
    "name": "trainer memory > keeps the number of live tensors flat over 200 steps",
    "file": "/work/main/test/train/memory.test.ts"
  },
  {
    "name": "a run folder holds one run > refuses a folder that holds a run; --overwrite removes the old run (other files stay); resume names every changed setting",
    "file": "/work/main/test/train/run-folder.test.ts"
  },
  {
    "name": "a run folder holds one run > the studio refuses the same way: a finetune job into a folder that holds a run fails with that sentence",
    "file": "/work/main/test/train/run-folder.test.ts"
  },
  {
    "name": "a run folder holds one run > one step with warmup trains nothing, and the message says why and how many steps are needed",
    "file": "/work/main/test/train/run-folder.test.ts"
  },
  {
    "name": "a run folder holds one run > refuses an output_dir under /proc or under a file at once, naming it",
    "file": "/work/main/test/train/run-folder.test.ts"
  },
  {
    "name": "a training process killed at any moment > leaves a run that resumes to the same adapter as an uninterrupted one",
    "file": "/work/main/test/train/sigkill.test.ts"
  },
  {
    "name": "a 2-layer TinyLlama-width bf16 slice on wasm > f32: loads, trains 2 steps across a resume, and merges into the bf16 base",
    "file": "/work/main/test/train/tinyllama-slice.test.ts"
  },
  {
    "name": "a 2-layer TinyLlama-width bf16 slice on wasm > bf16: loads, trains 2 steps across a resume, and merges into the bf16 base",
    "file": "/work/main/test/train/tinyllama-slice.test.ts"
  },
  {
    "name": "a 2-layer TinyLlama-width bf16 slice on wasm > f16: loads, trains 2 steps across a resume, and merges into the bf16 base",
    "file": "/work/main/test/train/tinyllama-slice.test.ts"
  },
  {
    "name": "a 2-layer TinyLlama-width bf16 slice on wasm > int8: loads, trains 2 steps across a resume, and merges into the bf16 base",
    "file": "/work/main/test/train/tinyllama-slice.test.ts"
  },
  {
    "name": "a 2-layer TinyLlama-width bf16 slice on wasm > nf4: loads, trains 2 steps across a resume, and merges into the bf16 base",
    "file": "/work/main/test/train/tinyllama-slice.test.ts"
  },
  {
    "name": "a tiny LLaMA: KV cache, greedy decoding and frozen dtype > the KV cache gives the same logits as a full forward pass",
    "file": "/work/main/test/model/stories260k.test.ts"
  },
  {
    "name": "a tiny LLaMA: KV cache, greedy decoding and frozen dtype > greedy generation takes, at each step, the argmax of a full forward over the prefix, and stops at a stop id",
    "file": "/work/main/test/model/stories260k.test.ts"
  },
  {
    "name": "a tiny LLaMA: KV cache, greedy decoding and frozen dtype > keeps an f32 checkpoint in f32 under auto, resident (a small base), and holds f16 on the host off WebGPU",
    "file": "/work/main/test/model/stories260k.test.ts"
  },
  {
    "name": "blockwise quantizers > int8 round trip is within half a step of each block",
    "file": "/work/main/test/model/block-quant.test.ts"
  },
  {
    "name": "blockwise quantizers > nf4 round trip is within half the widest code-book gap times absmax, and picks the nearest level",
    "file": "/work/main/test/model/block-quant.test.ts"
  },
  {
    "name": "blockwise quantizers > dequantizes any row range the same as the whole",
    "file": "/work/main/test/model/block-quant.test.ts"
  },
  {
    "name": "blockwise quantizers > stores at the sizes its mode promises",
    "file": "/work/main/test/model/block-quant.test.ts"
  },
  {
    "name": "config.json parsing > refuses num_hidden_layers above its bound 1024, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > refuses hidden_size above its bound 131072, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > refuses intermediate_size above its bound 524288, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > refuses num_attention_heads above its bound 2048, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > refuses num_key_value_heads above its bound 2048, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > refuses head_dim above its bound 4096, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > refuses vocab_size above its bound 4194304, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > refuses max_position_embeddings above its bound 16777216, naming config.json and the field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > fills LLaMA-2 defaults (no GQA, theta 10000, untied)",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > reads LLaMA-3.1 GQA, eos list and llama3 rope scaling",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > reads Qwen2 (q/k/v bias by model type), Mistral, explicit head_dim and tied embeddings",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "config.json parsing > rejects missing and inconsistent fields with messages that name the file and field",
    "file": "/work/main/test/model/config.test.ts"
  },
  {
    "name": "loading a checkpoint into its storage mode > keeps peak RSS under the stored model + the largest tensor in f32 + 256 MiB, for bf16, int8 and nf4",
    "file": "/work/main/test/model/load-memory.test.ts"
  },
  {
    "name": "LoRA target names > names the unknown ones, in order, and accepts the seven projections",
    "file": "/work/main/test/model/projections.test.ts"
  },
  {
    "name": "LoRA target names > the trainer and the config refuse an unknown name, listing the valid ones",
    "file": "/work/main/test/model/projections.test.ts"
  }
]