"""A residual network written the way users write them, then read by the toolkit as a flow.

A torchvision-style BasicBlock stage (conv-bn-relu-conv-bn, identity shortcut, relu after the
sum) between a conv stem and a pooled linear head, for 8 x 8 digit images (scikit-learn's
load_digits, flattened to 64 in [0, 1]). ``make_model`` is the factory ``cdverify inspect``
calls:

    cdverify inspect --model examples/byo_resnet.py:make_model --stage layer1 --data digits

Run as a script it trains the network on the digits (15 epochs, a few seconds on 2 cores;
test accuracy 0.958), saves the weights, and inspects the trained stage
(``python examples/byo_resnet.py --out out/byo``).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn


class BasicBlock(nn.Module):
    """relu(x + bn(conv(relu(bn(conv(x)))))): a post-activation block, as in torchvision."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class SmallResNet(nn.Module):
    def __init__(self, channels: int = 8, blocks: int = 6, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.layer1 = nn.Sequential(*[BasicBlock(channels) for _ in range(blocks)])
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, 8, 8)
        x = self.layer1(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


def make_model(blocks: int = 6) -> nn.Module:
    """The factory: a fresh SmallResNet with ``blocks`` residual blocks (the depth study in
    any dimension calls it with blocks = L). Its weights come from torch's global generator:
    the caller seeds it (check and the depth study with each seed, inspect with --seed), so
    that paired seeds are distinct initialisations."""
    return SmallResNet(blocks=blocks)


def train(model: nn.Module, epochs: int = 15, seed: int = 0) -> float:
    """Adam on the digits' training split; returns the test accuracy."""
    from validation.nets.data import make_dataset

    ds = make_dataset("digits", seed=seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.tensor(ds.x_train, dtype=torch.float32)
    y = torch.tensor(ds.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    from tqdm import tqdm

    for _ in tqdm(range(epochs), desc="training"):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.tensor(ds.x_test, dtype=torch.float32)).argmax(1).numpy()
    return float((pred == ds.y_test).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the example ResNet, then inspect it")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--out", default="out/byo")
    args = ap.parse_args(argv)
    from pathlib import Path

    from validation.nets.adapter import ResidualStage
    from validation.nets.user import load_data
    from validation.studies.inspect import run_inspect

    torch.manual_seed(0)
    model = make_model()
    acc = train(model, args.epochs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "weights.pt")
    x, y = load_data("digits")
    run_inspect(ResidualStage(model, "layer1"), x, y, out / "inspect",
                config={"model": "examples/byo_resnet.py:make_model", "stage": "layer1",
                        "test_accuracy": acc})
    print(f"test accuracy {acc:.3f}")
    print((out / "inspect" / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
