"""Small real-architecture models for the model test set (issue 15).

Imported by export_torchvision.py (Debian's /usr/bin/python3 with
python3-torch). Each class is a scaled-down copy of a published
architecture, written op for op the way its reference implementation is,
so that the exported graphs have the same node patterns at a size that runs
in milliseconds:

  YoloV8Tiny      a YOLOv8 detector (ultralytics' Conv/C2f/SPPF/Detect),
                  decoded boxes and class scores, dynamic batch, height, width
  ByteCNN         a byte-level text classifier: Embedding over 256 byte
                  values, Conv1d + tanh, a layer norm written out in torch
                  ops, max + mean pooling, Linear; int64 [batch, length]
"""
import torch
from torch import nn


# ---------------------------------------------------------------- YOLOv8

class Conv(nn.Module):
    """ultralytics' Conv: Conv2d (no bias), BatchNorm2d, SiLU."""

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 Convs with a residual Add when the widths match."""

    def __init__(self, c1, c2, shortcut=True):
        super().__init__()
        self.cv1 = Conv(c1, c2, 3)
        self.cv2 = Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with two convolutions: a 1x1 Conv whose output is
    chunked in two (Split), n Bottlenecks chained on the second half, every
    intermediate concatenated and mixed by a second 1x1 Conv."""

    def __init__(self, c1, c2, n=1, shortcut=False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max pools."""

    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class DFL(nn.Module):
    """Distribution Focal Loss integral: a softmax over reg_max bins per box
    side, then the expectation, as a 1x1 conv with fixed weights 0..reg_max-1."""

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape  # batch, channels, anchors
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def make_anchors(feats, strides, offset=0.5):
    """Anchor centres (grid cell + offset) and their strides, from the
    feature maps' traced shapes, so they follow a dynamic input size."""
    points, stride_list = [], []
    for feat, stride in zip(feats, strides):
        _, _, h, w = feat.shape
        sx = torch.arange(end=w, dtype=feat.dtype) + offset
        sy = torch.arange(end=h, dtype=feat.dtype) + offset
        sy, sx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_list.append(torch.full((h * w, 1), stride, dtype=feat.dtype))
    return torch.cat(points), torch.cat(stride_list)


def dist2bbox(distance, anchor_points, dim=1):
    """(left, top, right, bottom) distances to (cx, cy, w, h) boxes."""
    lt, rb = distance.chunk(2, dim)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)


class Detect(nn.Module):
    """YOLOv8's decoupled head: per level a box branch (4 x reg_max DFL
    logits) and a class branch, then anchors, DFL, dist2bbox, strides and
    sigmoid scores; output [batch, 4 + classes, anchors]."""

    def __init__(self, nc, ch, strides, reg_max=16):
        super().__init__()
        self.nc, self.reg_max, self.strides = nc, reg_max, strides
        self.no = nc + 4 * reg_max
        c2, c3 = max(16, ch[0] // 4, 4 * reg_max // 2), max(ch[0], nc)
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
            for x in ch)
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(reg_max)

    def forward(self, xs):
        xs = [torch.cat((b(x), c(x)), 1) for x, b, c in zip(xs, self.cv2, self.cv3)]
        anchors, strides = (t.transpose(0, 1) for t in make_anchors(xs, self.strides))
        n = xs[0].shape[0]
        x_cat = torch.cat([x.view(n, self.no, -1) for x in xs], 2)
        box, cls = x_cat.split((4 * self.reg_max, self.nc), 1)
        dbox = dist2bbox(self.dfl(box), anchors.unsqueeze(0), dim=1) * strides
        return torch.cat((dbox, cls.sigmoid()), 1)


class YoloV8Tiny(nn.Module):
    """YOLOv8's backbone (Conv, C2f, SPPF), PAN neck (nearest Upsample x2 and
    Concat up, strided Conv and Concat down) and Detect head at strides
    8/16/32, at a quarter of YOLOv8n's widths with 8 classes."""

    W = (4, 8, 16, 32, 64)  # YOLOv8n: 16, 32, 64, 128, 256

    def __init__(self, nc=8):
        super().__init__()
        w = self.W
        self.stem = nn.Sequential(Conv(3, w[0], 3, 2), Conv(w[0], w[1], 3, 2),
                                  C2f(w[1], w[1], 1, True))
        self.p3 = nn.Sequential(Conv(w[1], w[2], 3, 2), C2f(w[2], w[2], 2, True))
        self.p4 = nn.Sequential(Conv(w[2], w[3], 3, 2), C2f(w[3], w[3], 2, True))
        self.p5 = nn.Sequential(Conv(w[3], w[4], 3, 2), C2f(w[4], w[4], 1, True),
                                SPPF(w[4], w[4]))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td4 = C2f(w[4] + w[3], w[3], 1)
        self.td3 = C2f(w[3] + w[2], w[2], 1)
        self.down3 = Conv(w[2], w[2], 3, 2)
        self.bu4 = C2f(w[2] + w[3], w[3], 1)
        self.down4 = Conv(w[3], w[3], 3, 2)
        self.bu5 = C2f(w[3] + w[4], w[4], 1)
        self.detect = Detect(nc, (w[2], w[3], w[4]), (8.0, 16.0, 32.0))

    def forward(self, x):
        p3 = self.p3(self.stem(x))
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        t4 = self.td4(torch.cat((self.up(p5), p4), 1))
        n3 = self.td3(torch.cat((self.up(t4), p3), 1))
        n4 = self.bu4(torch.cat((self.down3(n3), t4), 1))
        n5 = self.bu5(torch.cat((self.down4(n4), p5), 1))
        return self.detect([n3, n4, n5])


# ---------------------------------------------------------------- byte CNN

class ByteCNN(nn.Module):
    """Byte-level text classifier: Embedding(256), three Conv1d + tanh
    (kernels 5, 3, 3; the last dilated), a layer norm over channels written
    out as mean / subtract / pow / mean / add eps / sqrt / divide / scale /
    shift, residual, max and mean pooling over the sequence, Linear to 6
    classes. Input int64 [batch, length] byte values."""

    DIM, WIDTH, CLASSES = 32, 64, 6

    def __init__(self):
        super().__init__()
        d, c = self.DIM, self.WIDTH
        self.emb = nn.Embedding(256, d)
        self.conv1 = nn.Conv1d(d, c, 5, padding=2)
        self.conv2 = nn.Conv1d(c, c, 3, padding=1)
        self.conv3 = nn.Conv1d(c, c, 3, padding=2, dilation=2)
        self.gamma = nn.Parameter(1.0 + 0.1 * torch.randn(c))
        self.beta = nn.Parameter(0.1 * torch.randn(c))
        self.fc = nn.Linear(2 * c, self.CLASSES)

    def norm(self, x, eps=1e-5):
        """Layer norm over the last axis in plain torch ops."""
        mean = x.mean(-1, keepdim=True)
        d = x - mean
        var = d.pow(2).mean(-1, keepdim=True)
        return d / torch.sqrt(var + eps) * self.gamma + self.beta

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)  # [b, dim, length]
        x = torch.tanh(self.conv1(x))
        x = x + torch.tanh(self.conv2(x))
        x = torch.tanh(self.conv3(x))
        x = self.norm(x.transpose(1, 2))  # [b, length, width]
        pooled = torch.cat((x.max(dim=1).values, x.mean(dim=1)), 1)
        return self.fc(pooled)
