/**
 * The fine-tuning settings' help in Chinese. English help comes from the engine's config schema (its `.describe()`
 * texts); a test checks that every field of that schema has a line here.
 */
export const FIELD_HELP_ZH: Record<string, string> = {
  base_model: 'Hugging Face 格式的基础模型文件夹（config.json、*.safetensors、tokenizer.json）。',
  data_path: 'Alpaca 格式的数据：{instruction, input?, output} 组成的 JSON 数组或 JSON Lines。',
  output_dir: '训练文件夹：配置、metrics.jsonl、checkpoints/ 和最终的 adapter/。',
  batch_size: '每次优化器更新的样本数（梯度累积 = batch_size / micro_batch_size）。',
  micro_batch_size: '每次前向/反向计算的样本数；调小可节省内存。',
  num_epochs: '遍历训练数据的轮数。',
  learning_rate: 'AdamW 预热之后的峰值学习率。',
  cutoff_len: '每个样本保留的词元数；更长的样本会被截断。',
  val_set_size: '留作验证的样本数（种子 42）；0 表示不做验证。',
  lora_r: 'LoRA 秩 r：低秩更新的宽度。',
  lora_alpha: 'LoRA alpha：更新按 alpha / r 缩放（rsLoRA 时为 alpha / √r）。',
  lora_dropout: '训练时 LoRA 输入上的 dropout。',
  lora_target_modules: '加上 LoRA 更新的投影：q_proj、k_proj、v_proj、o_proj、gate_proj、up_proj、down_proj 中任选。',
  train_on_inputs: '也学习提示词部分的词元；关闭时提示词不计入损失。',
  add_eos_token: 'Alpaca-LoRA 的选项：放得下时每个样本都以 EOS 结尾（其代码总会添加）；打开时提示词掩码也计入提示词自身的 EOS。',
  group_by_length: '把长度相近的样本放在同一批：更快，但损失曲线不那么平滑。',
  resume_from_checkpoint: '从某个检查点文件夹继续，或填 true 从 output_dir 中最新的完好检查点继续。',
  overwrite: '在已有训练记录的 output_dir 中重新开始：先删除其中的配置、指标、检查点和适配器（其他文件保留）。',
  prompt_template_name: 'alpaca、alpaca_legacy、alpaca_short、vigogne，或一个模板 JSON 文件。',
  backend:
    'tfjs 计算后端：auto 选择能加载的最快后端（tfjs-node-gpu、硬件适配器上的 WebGPU、tfjs-node、wasm、cpu）；webgpu-software 是很慢的 SwiftShader 软件适配器，供测试用。',
  threads: 'wasm 后端的线程数（默认：全部核心）。',
  base_dtype:
    '冻结的基础模型如何存放：f32、bf16 或 f16（每个权重 2 字节）、int8（分块 absmax，约 1 字节，同 Alpaca-LoRA 的 load_in_8bit）或 nf4（QLoRA 的 4 位，约半字节）。LoRA、梯度和优化器仍为 f32；归一化层为 f32，词嵌入和 lm_head 为 16 位。auto 在放得下时保持检查点原样，否则用 int8，再否则用 nf4。',
  gradient_checkpointing:
    '在反向传播中重新计算每一层，而不保留它的激活值：每步约慢 1/3，但只保留一层的激活值而不是所有层的。默认：int8/nf4 底座（如 PEFT 的 prepare_model_for_kbit_training）和放在 JS 内存中的大底座开启，否则关闭。',
  load_in_8bit: 'base_dtype int8 的 Python 写法（transformers/bitsandbytes 的叫法）。',
  load_in_4bit: 'base_dtype nf4 的 Python 写法（QLoRA：bnb_4bit_quant_type nf4）。',
  frozen_dtype: '已弃用：base_dtype 的旧名称（仍然接受）。',
  seed: 'LoRA 初始化、数据顺序和 dropout 的种子：种子相同，训练结果相同。',
  max_steps: '训练这么多次优化器更新后停止（0：跑完全部轮数）。',
  warmup_steps: '线性预热的步数，之后线性衰减到 0。',
  logging_steps: '每 N 步报告一次损失、学习率和速度。',
  eval_steps: '每 N 步在验证集上评估一次（0：只在最后评估）。',
  save_steps: '每 N 步写一个检查点（0：只保留最佳和最后一个）。',
  save_total_limit: '保留最新的 N 个检查点（外加最佳的一个）；0 表示全部保留。',
  early_stopping_patience: '连续 N 次评估验证损失都没有改善就停止（0：从不）。',
  max_grad_norm: '把全局梯度范数裁剪到此值（0：不裁剪），与 HF Trainer 相同。',
  weight_decay: 'LoRA 权重上的 AdamW 权重衰减。',
  use_rslora: 'rsLoRA：按 alpha / √r 缩放，高秩时更稳定。',
  on_bad_rows: '遇到无效数据行时：跳过（在报告中列出）或停止。',
};
