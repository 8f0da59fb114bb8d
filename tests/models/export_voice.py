#!/usr/bin/python3
"""Export a small voice-activity model with ONNX control flow (If, Loop).

Run with Debian's Python (/usr/bin/python3: python3-torch, python3-onnx):

    export_voice.py OUT

writes OUT/voice_activity_opset<N>/model.onnx and test_data_set_K/ with
PyTorch's outputs, the layout of `loom-conformance`, and voice_frames_opset<N>,
the same model collecting its frames in a list (a sequence in the Loop). The model is shaped
like streaming voice-activity detectors (Silero VAD): the sample rate picks
a front end (an If on a runtime input), convolutions encode the frames, and
an LSTM cell steps over them one frame at a time (a Loop whose trip count is
the number of frames), emitting a speech probability per frame. It is
scripted, not traced, so the branches and the loop stay in the graph.
Weights are random with a fixed seed.
"""
import argparse
import os
import warnings
from typing import List
import numpy as np
import onnx
import torch
from onnx import numpy_helper

HIDDEN = 32


class VoiceActivity(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.front16 = torch.nn.Conv1d(1, HIDDEN, 64, stride=32)
        self.front8 = torch.nn.Conv1d(1, HIDDEN, 32, stride=16)
        self.enc = torch.nn.Conv1d(HIDDEN, HIDDEN, 3, padding=1)
        self.cell = torch.nn.LSTMCell(HIDDEN, HIDDEN)
        self.head = torch.nn.Linear(HIDDEN, 1)

    def features(self, audio: torch.Tensor, sr: torch.Tensor):
        """The frames' features: the sample rate picks the front end (an If)."""
        x = audio.unsqueeze(1)
        if bool(sr == 16000):
            feats = self.front16(x)
        else:
            feats = self.front8(x)
        return torch.relu(self.enc(torch.relu(feats)))

    def forward(self, audio: torch.Tensor, sr: torch.Tensor):
        feats = self.features(audio, sr)
        b = feats.size(0)
        h = torch.zeros(b, self.cell.hidden_size)
        c = torch.zeros(b, self.cell.hidden_size)
        probs = torch.zeros(b, feats.size(2))
        for t in range(feats.size(2)):
            h, c = self.cell(feats[:, :, t], (h, c))
            probs[:, t] = torch.sigmoid(self.head(h)).squeeze(1)
        return probs, h


class VoiceFrames(VoiceActivity):
    """The same detector written with a Python list: the exporter carries it
    through the Loop as a sequence (SequenceEmpty, SequenceInsert in the
    body, ConcatFromSequence after)."""

    def forward(self, audio: torch.Tensor, sr: torch.Tensor):
        feats = self.features(audio, sr)
        b = feats.size(0)
        h = torch.zeros(b, self.cell.hidden_size)
        c = torch.zeros(b, self.cell.hidden_size)
        probs: List[torch.Tensor] = []
        for t in range(feats.size(2)):
            h, c = self.cell(feats[:, :, t], (h, c))
            probs.append(torch.sigmoid(self.head(h)))
        return torch.cat(probs, 1), h


def save_tensor(array, name, path):
    tensor = numpy_helper.from_array(np.array(array, order="C"), name)  # keeps 0-d shapes
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())


def export(name, cls, opset, out_dir):
    torch.manual_seed(0)
    model = torch.jit.script(cls().eval())
    test_dir = os.path.join(out_dir, f"{name}_opset{opset}")
    os.makedirs(test_dir, exist_ok=True)
    path = os.path.join(test_dir, "model.onnx")
    gen = torch.Generator().manual_seed(1)
    audio = torch.randn(1, 1024, generator=gen)
    sr = torch.tensor(16000)
    torch.onnx.export(
        model, (audio, sr), path, opset_version=opset,
        input_names=["audio", "sr"], output_names=["speech", "state"],
        dynamic_axes={"audio": {0: "batch", 1: "samples"}, "speech": {0: "batch", 1: "frames"},
                      "state": {0: "batch"}},
    )
    onnx.checker.check_model(onnx.load(path))
    for i, (batch, samples, rate) in enumerate(((1, 1024, 16000), (2, 800, 8000))):
        audio = torch.randn(batch, samples, generator=gen)
        sr = torch.tensor(rate)
        with torch.no_grad():
            outs = model(audio, sr)
        data_dir = os.path.join(test_dir, f"test_data_set_{i}")
        os.makedirs(data_dir, exist_ok=True)
        save_tensor(audio.numpy(), "audio", os.path.join(data_dir, "input_0.pb"))
        save_tensor(sr.numpy(), "sr", os.path.join(data_dir, "input_1.pb"))
        for j, (y, name) in enumerate(zip(outs, ("speech", "state"))):
            save_tensor(y.numpy(), name, os.path.join(data_dir, f"output_{j}.pb"))
    print(f"exported {test_dir}")


def main():
    warnings.filterwarnings("ignore")  # the exporter's notes on scripted constants
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--opsets", default="13,17")
    args = ap.parse_args()
    for opset in (int(o) for o in args.opsets.split(",")):
        export("voice_activity", VoiceActivity, opset, args.out)
        export("voice_frames", VoiceFrames, opset, args.out)


if __name__ == "__main__":
    main()
