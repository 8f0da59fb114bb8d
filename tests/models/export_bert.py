#!/usr/bin/python3
"""Export a BERT-style encoder to ONNX for the dynamic-shape tests (issue 17).

Run with Debian's Python (/usr/bin/python3: python3-torch, python3-onnx):

    export_bert.py OUT/model.onnx [--layers 4 --hidden 256 --heads 4 --ff 1024
                                   --vocab 30522 --max-len 128]

The model takes input_ids and attention_mask (int64, [batch, sequence], both
dims dynamic) and returns last_hidden_state [batch, sequence, hidden]:
token and position embeddings, LayerNorm, then per layer self-attention with
the mask added to the scores (-10000 where the mask is 0), a GELU feed-forward
and post-LayerNorms, as BERT does. Weights are random with a fixed seed.
Because masked keys get -10000 before the softmax (exp underflows to 0),
the outputs at positions whose mask is 1 do not depend on padding after them,
which is what makes padding a sequence up to a bucket exact for this model.
"""
import argparse
import math
import os

import torch


class Layer(torch.nn.Module):
    def __init__(self, hidden, heads, ff):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(hidden, 3 * hidden)
        self.out = torch.nn.Linear(hidden, hidden)
        self.ln1 = torch.nn.LayerNorm(hidden, eps=1e-12)
        self.ff1 = torch.nn.Linear(hidden, ff)
        self.ff2 = torch.nn.Linear(ff, hidden)
        self.ln2 = torch.nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, bias):
        b, s, h = x.shape
        dh = h // self.heads
        q, k, v = self.qkv(x).split(h, dim=2)
        q = q.reshape(b, s, self.heads, dh).transpose(1, 2)
        k = k.reshape(b, s, self.heads, dh).permute(0, 2, 3, 1)
        v = v.reshape(b, s, self.heads, dh).transpose(1, 2)
        p = torch.softmax(torch.matmul(q, k) / math.sqrt(dh) + bias, dim=-1)
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(b, s, h)
        x = self.ln1(x + self.out(ctx))
        return self.ln2(x + self.ff2(torch.nn.functional.gelu(self.ff1(x))))


class Encoder(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.tok = torch.nn.Embedding(a.vocab, a.hidden)
        self.pos = torch.nn.Embedding(a.max_len, a.hidden)
        self.ln = torch.nn.LayerNorm(a.hidden, eps=1e-12)
        self.layers = torch.nn.ModuleList(
            [Layer(a.hidden, a.heads, a.ff) for _ in range(a.layers)])

    def forward(self, input_ids, attention_mask):
        s = input_ids.shape[1]
        x = self.tok(input_ids) + self.pos.weight[:s].unsqueeze(0)
        x = self.ln(x)
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--max-len", type=int, default=128)
    a = ap.parse_args()
    torch.manual_seed(17)
    model = Encoder(a).eval()
    ids = torch.randint(0, a.vocab, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.int64)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    dyn = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), a.out, opset_version=14,
                          input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"],
                          dynamic_axes={"input_ids": dyn, "attention_mask": dyn,
                                        "last_hidden_state": dyn})
    print(f"{a.out}: {sum(p.numel() for p in model.parameters()) * 4 / 2**20:.1f} MiB of weights")


if __name__ == "__main__":
    main()
