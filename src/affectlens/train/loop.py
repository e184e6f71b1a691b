"""The training loop: in-memory uint8 data, batched tensor augmentation, bf16 autocast on CPU.

One call of :func:`train` runs a whole experiment into ``out``: ``last.pt`` every epoch (resume
with ``resume=True``), ``best.pt`` on the best validation accuracy, ``metrics.csv`` (one row per
epoch, the learning curves) and ``run.json`` (the configuration and the command line).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import logging
import math
import os
import re
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from affectlens.datasets import FaceDataset, load_dataset, require_apart
from affectlens.errors import AffectlensError
from affectlens.evaluate.metrics import classification_report
from affectlens.faces.preprocess import Preprocess
from affectlens.labels import EMOTIONS
from affectlens.runtime import cpu_flags, usable_cores
from affectlens.train.augment import AugmentConfig, augment, photometric
from affectlens.train.models import create_model, get_spec

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    model: str = "affect_cnn"
    train: list[str] = field(default_factory=lambda: ["ferplus:../shared/data/ferplus"])
    train_split: str = "train"
    valid: str | None = "ferplus:../shared/data/ferplus"
    valid_split: str = "valid"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    optimizer: str = "sgd"  # sgd | adamw
    schedule: str = "onecycle"  # onecycle | cosine
    warmup_epochs: float = 1.0
    soft_labels: bool = True
    label_smoothing: float = 0.05
    class_weights: str = "none"  # none | balanced | sqrt
    logit_adjust: float = 0.0  # tau of the logit-adjusted loss (Menon et al. 2021): train on logits + tau·log(prior)
    ema: float = 0.999  # 0 disables the weight EMA
    early_stop: int = 0  # epochs without improvement before stopping; 0 = never
    seed: int = 0
    precision: str = "auto"  # auto | bf16 | fp32 (auto: bf16 on GPUs; on a CPU whichever steps faster)
    init: str | None = None  # start from this checkpoint's weights (fine-tuning); fresh optimiser and schedule
    distill: str | None = None  # .npz of teacher probabilities for the training set
    distill_weight: float = 0.7
    distill_temperature: float = 1.0
    shape: str | None = None  # .npz of face-shape targets (affectlens shape-targets): an auxiliary head regresses them
    shape_weight: float = 0.5
    backbone_lr: float = 1.0  # the learning rate of every layer but the last linear one, as a share of lr (fine-tuning)
    limit: int = 0  # use only the first N training faces (smoke tests)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    input_size: int = 0  # 0: the architecture's default
    mean: float | None = None  # None: the architecture's default normalisation
    std: float | None = None
    color: str | None = None  # "gray" | "rgb"; None: the architecture's (an RGB backbone may train on gray faces)

    def __post_init__(self) -> None:
        # refused before any data is loaded: a typo ran another setting silently (--optimizer adam ran AdamW,
        # --schedule step cosine, --precision fp16 auto), a zero crashed mid-run (--epochs 0, --batch-size 0)
        if not 0 < self.backbone_lr <= 1:
            raise AffectlensError(f"--backbone-lr {self.backbone_lr}: a share of --lr in (0, 1]")
        choices = {"optimizer": ("sgd", "adamw"), "schedule": ("onecycle", "cosine"),
                   "class_weights": ("none", "balanced", "sqrt"), "precision": ("auto", "bf16", "fp32")}  # fmt: skip
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                flag = "--" + name.replace("_", "-")
                raise AffectlensError(f"{flag} {getattr(self, name)}: choose one of {', '.join(allowed)}")
        ranges = (("epochs", 1, None), ("batch_size", 1, None), ("limit", 0, None), ("early_stop", 0, None),
                  ("warmup_epochs", 0, None), ("weight_decay", 0, None), ("logit_adjust", 0, None),
                  ("distill_weight", 0, 1), ("shape_weight", 0, None))  # fmt: skip
        for name, low, high in ranges:
            value = getattr(self, name)
            if value < low or (high is not None and value > high):
                span = f"at least {low}" if high is None else f"in [{low}, {high}]"
                raise AffectlensError(f"--{name.replace('_', '-')} {value}: {span}")
        if not self.lr > 0:
            raise AffectlensError(f"--lr {self.lr}: a positive learning rate")
        if not 0 <= self.label_smoothing < 1:
            raise AffectlensError(f"--label-smoothing {self.label_smoothing}: in [0, 1)")
        if not 0 <= self.ema < 1:
            raise AffectlensError(f"--ema {self.ema}: in [0, 1) (0 turns the weight average off)")
        if self.distill_temperature <= 0:
            raise AffectlensError(f"--distill-temperature {self.distill_temperature}: positive")

    def preprocess(self) -> Preprocess:
        if self.input_size < 0:
            raise AffectlensError(f"--input-size {self.input_size}: a crop size in pixels, or 0 for the architecture's")
        spec = get_spec(self.model)
        if self.color not in (None, "gray", "rgb"):
            raise AffectlensError(f"--color {self.color!r}: gray or rgb")
        return Preprocess(
            size=self.input_size or spec.input_size,
            color=self.color or spec.color,
            mean=spec.mean if self.mean is None else self.mean,
            std=spec.std if self.std is None else self.std,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("augment", {}).items()})
        return cls(augment=aug, **d)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bf16(dev: torch.device) -> bool:
    """True where bf16 autocast is fast: CUDA, or a CPU with AVX-512 BF16 / AMX.

    On a CPU without them (AVX2 only) bf16 is emulated and trains ~12x *slower* than fp32.
    """
    if dev.type == "cuda":
        return True
    cpu = torch.cpu
    if hasattr(cpu, "_is_avx512_bf16_supported") and hasattr(cpu, "_is_amx_tile_supported"):
        # what PyTorch's own kernels detected (CPUID): right also where instruction sets are hidden from the
        # process (benchmarks/avx2only), which /proc/cpuinfo still lists
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def prepare(datasets: list[FaceDataset], pre: Preprocess) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crops (uint8, model size/colour), soft targets over EMOTIONS, hard labels and class masks.

    The mask (N, len(EMOTIONS)) is True for the classes a row's dataset annotates: a 7-class
    RAF-DB or FER2013 face says nothing about contempt, so its loss is taken over its own classes.
    """
    xs = [pre.crop_images(ds.images) for ds in datasets]
    ts = [ds.soft_targets() for ds in datasets]
    ys = [ds.global_labels() for ds in datasets]
    ms = [np.broadcast_to(np.isin(EMOTIONS, ds.classes), (len(ds), len(EMOTIONS))) for ds in datasets]
    return np.concatenate(xs), np.concatenate(ts), np.concatenate(ys), np.concatenate(ms)


def to_unit(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W[, 3]) → float [0, 1] (B, C, H, W)."""
    x = batch_u8.float().div_(255.0)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)


def to_input(batch_u8: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    return normalize(to_unit(batch_u8), pre)


def normalize(x01: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    return pre.standardize(x01).contiguous(memory_format=torch.channels_last)


def masked_soft_ce(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, smoothing: float = 0.0
) -> torch.Tensor:
    """Per-sample cross-entropy of soft ``target`` over each row's own classes (``mask``).

    Classes outside the mask get no probability mass and no gradient; label smoothing spreads
    over the row's own classes only.
    """
    m = mask.to(logits.dtype)
    t = target * m
    t = t / t.sum(1, keepdim=True).clamp_min(1e-8)
    if smoothing:
        t = t * (1 - smoothing) + smoothing * m / m.sum(1, keepdim=True)
    logp = F.log_softmax(logits.masked_fill(~mask, -1e4), 1)
    return -(t * logp.masked_fill(~mask, 0.0)).sum(1)


@torch.no_grad()
def predict(
    model: torch.nn.Module, crops: np.ndarray, pre: Preprocess, batch: int = 512, bf16: bool = False
) -> np.ndarray:
    """Softmax probabilities of ``model`` on uint8 crops (PyTorch; eval proper uses ONNX Runtime)."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(crops), batch):
        x = to_input(torch.from_numpy(crops[i : i + batch]), pre).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(model(x).float().softmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)), np.float32)


def _class_counts(labels: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """Each class's count, scaled to the rows that could be it (``masks``: the classes a row's dataset
    annotates): RAF-DB's rows are never contempt, so counting them made contempt look 1.4x rarer in a
    FER+ and RAF-DB run than it is where it can occur."""
    counts = np.bincount(labels, minlength=len(EMOTIONS)).astype(np.float64)
    if masks is not None and len(masks):
        can = np.asarray(masks, bool).sum(0).astype(np.float64)
        counts = counts * len(masks) / np.maximum(can, 1.0)
    return counts


def _class_weights(labels: np.ndarray, how: str, masks: np.ndarray | None = None) -> torch.Tensor:
    counts = _class_counts(labels, masks)
    if how == "none":
        w = np.ones_like(counts)
    else:
        w = counts.sum() / np.maximum(counts, 1) / len(counts)
        w = np.sqrt(w) if how == "sqrt" else w
        w = w / (w * counts).sum() * counts.sum()  # mean weight over samples stays 1
    return torch.tensor(w, dtype=torch.float32)


def _log_prior(labels: np.ndarray, masks: np.ndarray | None = None) -> torch.Tensor:
    counts = _class_counts(labels, masks) + 1.0
    return torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32)


def pick_bf16(cfg: TrainConfig, model: torch.nn.Module, pre: Preprocess, dev: torch.device) -> bool:
    """``--precision``: bf16, fp32, or (auto) bf16 on GPUs and, on a CPU, whichever trains faster.

    Measured, not guessed from CPU flags: on a Zen 4 EPYC (AVX-512 BF16, no AMX) bf16 autocast trains
    the plain-conv affect_cnn 1.8x faster but the depthwise EfficientNet-Lite0 2x slower, and on
    AVX2-only CPUs bf16 is emulated and ~17x slower.
    """
    if cfg.precision in ("bf16", "fp32"):
        return cfg.precision == "bf16"
    if dev.type == "cuda":
        return True
    if not native_bf16(dev):
        return False
    probe = copy.deepcopy(model).train()
    x = torch.randn(min(cfg.batch_size, 64), pre.channels, pre.size, pre.size).contiguous(
        memory_format=torch.channels_last
    )
    seconds = {}
    for bf16 in (False, True):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = probe(x)
            out.float().sum().backward()
            times.append(time.perf_counter() - t0)
        seconds[bf16] = min(times[1:])
    log.info("precision auto: fp32 %.3f s, bf16 %.3f s per probe step", seconds[False], seconds[True])
    return seconds[True] < 0.8 * seconds[False]


def _ema_fn(decay: float):
    """Weight EMA with a warm-up (decay ``min(decay, (1 + n) / (10 + n))`` after n updates).

    Without the warm-up a 0.999 EMA still carries ~25% of the random initialisation after
    six FER+ epochs, and early validation scores say nothing.
    """

    def avg(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        return averaged * d + current * (1.0 - d)

    return avg


def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@dataclass
class _Data:
    """The training faces (uint8 crops), their targets and class masks, and the validation set."""

    x: torch.Tensor
    targets: torch.Tensor  # soft targets and class masks side by side (N, 2 × len(EMOTIONS))
    labels: np.ndarray
    valid: FaceDataset | None
    x_valid: np.ndarray | None
    shape: torch.Tensor | None = None  # face-shape coefficients and a 1/0 "holds" column (N, K + 1)
    shape_mirrored: torch.Tensor | None = None  # the same for each face's mirror image


def _load_data(cfg: TrainConfig, pre: Preprocess) -> _Data:
    if cfg.valid:  # validating on the training images would pick best.pt (and report it) on what it learnt
        trained = [(s, cfg.train_split, "the training set") for s in cfg.train]
        require_apart((cfg.valid, cfg.valid_split), "the validation set", trained)
    train_sets = [load_dataset(s, cfg.train_split) for s in cfg.train]
    x_tr, t_tr, y_tr, m_tr = prepare(train_sets, pre)
    if not cfg.soft_labels:  # majority labels, before any teacher is blended in (it was then overwritten)
        t_tr = np.eye(len(EMOTIONS), dtype=np.float32)[y_tr]
    if cfg.distill:  # soft targets: teachers' ensemble blended with the vote distributions (or labels)
        from affectlens.train.teachers import load_teacher_file

        teacher = load_teacher_file(cfg.distill, x_tr)
        t_tr = (cfg.distill_weight * teacher + (1 - cfg.distill_weight) * t_tr).astype(np.float32)
    shape = shape_m = None
    if cfg.shape:
        from affectlens.train.shape import load_shape_file

        st = load_shape_file(cfg.shape, [ds.images for ds in train_sets])
        shape, shape_m = st.columns(), st.columns(mirrored=True)
    n = cfg.limit or len(x_tr)
    x_tr, t_tr, y_tr, m_tr = x_tr[:n], t_tr[:n], y_tr[:n], m_tr[:n]
    valid = load_dataset(cfg.valid, cfg.valid_split) if cfg.valid else None
    return _Data(
        x=torch.from_numpy(x_tr),
        targets=torch.from_numpy(np.concatenate([t_tr, m_tr.astype(np.float32)], 1)),  # masks ride with targets
        labels=y_tr,
        valid=valid,
        x_valid=pre.crop_images(valid.images) if valid else None,
        shape=None if shape is None else torch.from_numpy(shape[:n]),
        shape_mirrored=None if shape_m is None else torch.from_numpy(shape_m[:n]),
    )


def _build_model(cfg: TrainConfig, pre: Preprocess, dev: torch.device) -> torch.nn.Module:
    model = create_model(cfg.model, in_chans=pre.channels)
    if cfg.init:
        init = read_checkpoint(cfg.init)
        if init["config"]["model"] != cfg.model:
            raise AffectlensError(f"--init {cfg.init} is a {init['config']['model']}, not a {cfg.model}")
        model.load_state_dict(init["weights"])
    return model.to(dev).to(memory_format=torch.channels_last)


def _last_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The classifier's last linear layer: its input is the pooled features, its output the logits."""
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]


def _optimizer(cfg: TrainConfig, modules: list[torch.nn.Module], steps_per_epoch: int):
    """The optimiser and its schedule over ``modules`` (the model first, then any auxiliary heads): the
    model's last linear layer and the heads learn at ``lr``, the rest at ``lr * backbone_lr``."""
    top = {id(p) for m in [_last_linear(modules[0]), *modules[1:]] for p in m.parameters()}
    trainable = [p for m in modules for p in m.parameters() if p.requires_grad]
    params: list = [{"params": trainable, "lr": cfg.lr}]  # one group when every layer learns alike (old checkpoints)
    if cfg.backbone_lr < 1:
        params = [
            {"params": [p for p in trainable if id(p) in top], "lr": cfg.lr},
            {"params": [p for p in trainable if id(p) not in top], "lr": cfg.lr * cfg.backbone_lr},
        ]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = steps_per_epoch * cfg.epochs
    if cfg.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=[g["lr"] for g in params],
            total_steps=total,
            pct_start=min(0.3, max(cfg.warmup_epochs, 0.1) / cfg.epochs * 3),
        )
    else:
        warm = max(int(cfg.warmup_epochs * steps_per_epoch), 1)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            # (math, not NumPy: a NumPy float in the optimizer's state made the checkpoint unreadable with weights_only)
            lambda s: min((s + 1) / warm, 0.5 * (1 + math.cos(math.pi * min(s / total, 1.0)))),
        )
    return opt, sched


class _ShapeHead:
    """The face-shape head of ``--shape``: a linear layer on the classifier's pooled features (the input
    of its last linear layer, caught by a hook), trained beside it and never exported."""

    def __init__(self, model: torch.nn.Module, components: int, dev: torch.device):
        last = _last_linear(model)
        self.linear = torch.nn.Linear(last.in_features, components).to(dev)
        self.features: torch.Tensor | None = None
        last.register_forward_pre_hook(self._catch)

    def _catch(self, _module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self.features = args[0]

    def loss(self, target: torch.Tensor) -> torch.Tensor:
        """Mean squared error on the last forward pass's faces over the rows whose shape holds (last column)."""
        assert self.features is not None, "loss() before a forward pass"
        err = (self.linear(self.features.float()) - target[:, :-1]).pow(2).mean(1)
        ok = (target[:, -1] > 0.999).to(err.dtype)
        return (err * ok).sum() / ok.sum().clamp_min(1.0)


class _Trainer:
    """One experiment's state: set up once, then :meth:`epoch`, :meth:`validate` and :meth:`checkpoint`."""

    def __init__(self, cfg: TrainConfig, out: Path, progress: bool):
        self.cfg, self.out, self.progress = cfg, out, progress
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.set_num_threads(usable_cores())
        self.dev = _device()
        self.pre = cfg.preprocess()
        self.data = _load_data(cfg, self.pre)
        self.model = _build_model(cfg, self.pre, self.dev)
        self.ema = AveragedModel(self.model, avg_fn=_ema_fn(cfg.ema), use_buffers=True) if cfg.ema > 0 else None
        self.shape_head = None  # after the EMA copy: the averaged model needs no hook
        if self.data.shape is not None:
            self.shape_head = _ShapeHead(self.model, self.data.shape.shape[1] - 1, self.dev)
        self.steps_per_epoch = max(len(self.data.x) // cfg.batch_size, 1)
        heads = [self.shape_head.linear] if self.shape_head else []
        self.opt, self.sched = _optimizer(cfg, [self.model, *heads], self.steps_per_epoch)
        masks = self.data.targets[:, len(EMOTIONS) :].numpy() > 0.5
        self.weights = _class_weights(self.data.labels, cfg.class_weights, masks).to(self.dev)
        self.adjust = (cfg.logit_adjust * _log_prior(self.data.labels, masks)).to(self.dev)
        self.start, self.best, self.history = 0, {"valid_accuracy": -1.0}, []
        self.bf16 = False
        self.gen: torch.Generator | None = None  # batch order and augmentation; saved with every checkpoint
        self.stale = 0  # epochs since the best one (early stopping)

    @property
    def scored(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def resume(self) -> None:
        last = self.out / "last.pt"
        if not last.is_file():
            return
        ck = read_checkpoint(last, map_location=self.dev)
        self._check_resumable(ck["config"], last)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        if ck["config"].get("epochs") == self.cfg.epochs:
            self.sched.load_state_dict(ck["scheduler"])
        else:  # more (or fewer) epochs than first planned: the new schedule, fast-forwarded
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(
                    min((ck["epoch"] + 1) * self.steps_per_epoch, self.steps_per_epoch * self.cfg.epochs - 1)
                ):
                    self.sched.step()
        if self.ema is not None and ck.get("ema"):
            self.ema.load_state_dict(ck["ema"])
        if self.shape_head is not None and ck.get("shape_head"):
            self.shape_head.linear.load_state_dict(ck["shape_head"])
        self.start, self.best, self.history = ck["epoch"] + 1, ck["best"], ck["history"]
        self.stale = self.start - self.best.get("epoch", self.start)
        torch.set_rng_state(ck["rng"])
        if ck.get("generator") is not None:  # the batches and augmentations the run would have drawn next
            self.gen = torch.Generator()
            self.gen.set_state(ck["generator"])
        log.info("resumed from %s at epoch %d", last, self.start)

    def _check_resumable(self, saved: dict, last: Path) -> None:
        """What a run cannot change when it resumes: the weights' shapes and the optimiser's state follow from these
        (another --model was a huge state_dict RuntimeError, another --optimizer KeyError: 'step'). Compared as what
        they make: --input-size 48 is affect_cnn's default 0, --color gray its None, a shape file under another
        spelling the same head."""

        def fixed(c: dict) -> dict:
            out = {f"--{k}": bool(c[k]) if k == "shape" else c[k] for k in ("model", "optimizer", "shape") if k in c}
            with contextlib.suppress(AffectlensError, TypeError, ValueError):  # (an older release's config)
                out["crop"] = TrainConfig.from_dict(c).preprocess()
            return out

        before, now = fixed(saved), fixed(self.cfg.to_dict())
        differ = [k for k in before if k in now and before[k] != now[k]]
        if differ:
            was = ", ".join(f"{k} {before[k]!r} (now {now[k]!r})" for k in differ)
            raise AffectlensError(
                f"--resume: {last} was trained with {was}; resume with the same options, or start a new --out"
            )

    def write_run_json(self) -> None:
        argv = sys.argv
        command = " ".join(["affectlens", *argv[1:]]) if "affectlens" in argv[0] else " ".join(argv)
        run = {
            "config": self.cfg.to_dict(),
            "preprocess": self.pre.to_dict(),
            "command": command,
            "n_train": len(self.data.x),
            "n_valid": len(self.data.x_valid) if self.data.x_valid is not None else 0,
            "torch": torch.__version__,
        }
        (self.out / "run.json").write_text(json.dumps(run, indent=2))

    def batch(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The augmented faces ``idx`` on the device: inputs, soft targets, class masks, shape targets.

        Shape targets ride with the soft targets through the flip (a mirrored face takes its mirror's
        shape) and the mixing (which mixes masks too: 1 only where both rows had it).
        """
        d, k = self.data, len(EMOTIONS)
        x = normalize(photometric(to_unit(d.x[idx]), self.cfg.augment, gen), self.pre)
        y, y_mirrored = d.targets[idx], None
        if d.shape is not None and d.shape_mirrored is not None:
            y, y_mirrored = torch.cat([y, d.shape[idx]], 1), torch.cat([y, d.shape_mirrored[idx]], 1)
        x, tm = augment(x, y, self.cfg.augment, gen, y_mirrored)
        tm = tm.to(self.dev, non_blocking=True)
        return x.to(self.dev, non_blocking=True), tm[:, :k], tm[:, k : 2 * k] > 0.999, tm[:, 2 * k :]

    def epoch(self, epoch: int, gen: torch.Generator) -> dict:
        """One pass over the training faces; the epoch's loss, accuracy and learning rate."""
        cfg, d = self.cfg, self.data
        self.model.train()
        perm = torch.randperm(len(d.x), generator=gen)
        loss_sum = shape_sum = correct = seen = 0.0
        bar = tqdm(
            range(self.steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not self.progress, leave=False
        )
        for step in bar:
            idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            x, t, mask, shape = self.batch(idx, gen)
            with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.model(x)
            per_sample = masked_soft_ce(logits.float() + self.adjust, t, mask, cfg.label_smoothing)
            loss = (per_sample * self.weights[t.argmax(1)]).mean()
            if self.shape_head is not None:
                shape_loss = self.shape_head.loss(shape)
                loss = loss + cfg.shape_weight * shape_loss
                shape_sum += shape_loss.item() * len(idx)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            loss_sum += loss.item() * len(idx)
            correct += float((logits.argmax(1) == t.argmax(1)).sum())
            seen += len(idx)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "lr": self.opt.param_groups[0]["lr"],
        }
        return row | ({"train_shape_loss": shape_sum / seen} if self.shape_head is not None else {})

    def validate(self) -> dict:
        """Loss, accuracy and macro-F1 of the scored (EMA) weights on the validation set, over its classes."""
        valid, x_va = self.data.valid, self.data.x_valid
        if valid is None or x_va is None:
            return {}
        probs = predict(self.scored, x_va, self.pre, bf16=self.bf16)
        p = probs[:, [EMOTIONS.index(c) for c in valid.classes]]
        rep = classification_report(valid.labels, p / p.sum(1, keepdims=True), valid.classes)
        return {"valid_loss": rep["nll"], "valid_accuracy": rep["accuracy"], "valid_macro_f1": rep["macro_f1"]}

    def checkpoint(self, epoch: int, row: dict) -> bool:
        """``last.pt`` every epoch, ``best.pt`` on a better validation accuracy; True when it improved."""
        improved = row.get("valid_accuracy", epoch) > self.best["valid_accuracy"]
        if improved:
            self.best = {
                "epoch": epoch + 1,
                "valid_accuracy": row.get("valid_accuracy", 0.0),
                "valid_macro_f1": row.get("valid_macro_f1", 0.0),
            }
        state = {
            "model": self.model.state_dict(),
            "weights": copy.deepcopy(self.scored.state_dict()),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "shape_head": self.shape_head.linear.state_dict() if self.shape_head is not None else None,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "epoch": epoch,
            "best": self.best,
            "history": self.history,
            "rng": torch.get_rng_state(),
            "generator": self.gen.get_state() if self.gen is not None else None,
            "config": self.cfg.to_dict(),
            "preprocess": self.pre.to_dict(),
        }
        if improved:
            _atomic_save(state, self.out / "best.pt")
        _atomic_save(state, self.out / "last.pt")
        _write_metrics(self.out / "metrics.csv", self.history)
        return improved


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Run one experiment; returns the best validation metrics."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tr = _Trainer(cfg, out, progress)
    if resume:
        tr.resume()
    tr.write_run_json()
    if tr.gen is None:  # a new run (or a checkpoint from before generators were saved)
        tr.gen = torch.Generator().manual_seed(cfg.seed * 1000 + tr.start)
    tr.bf16 = pick_bf16(cfg, tr.model, tr.pre, tr.dev)
    log.info("device %s, %s, %d threads", tr.dev, "bf16 autocast" if tr.bf16 else "fp32", torch.get_num_threads())
    for epoch in range(tr.start, cfg.epochs):
        t0 = time.perf_counter()
        row = tr.epoch(epoch, tr.gen) | tr.validate()
        row["seconds"] = time.perf_counter() - t0
        tr.history.append(row)
        tr.stale = 0 if tr.checkpoint(epoch, row) else tr.stale + 1
        msg = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        if progress:
            tqdm.write(msg)
        else:
            print(msg, file=sys.stderr, flush=True)
        if cfg.early_stop and tr.stale >= cfg.early_stop:
            log.info("early stop: no improvement for %d epochs", tr.stale)
            break
    return tr.best


def _write_metrics(path: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


CHECKPOINT_KEYS = ("weights", "config", "preprocess")
# NumPy floats as plain data (no code runs to read them): the pickle's scalar constructor and the float dtypes
_NUMPY_SCALARS = [
    (getattr(np, "_core", None) or np.core).multiarray.scalar,  # NumPy 2 / 1
    np.dtype,
    type(np.dtype(np.float64)),
    type(np.dtype(np.float32)),
]


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The dict a training run saved at ``path``, read without running pickled code (``weights_only``: the
    checkpoints hold only tensors, numbers, strings and containers of them); anything else, a file that is
    no checkpoint or one of another tool, is one clear error."""
    try:
        with torch.serialization.safe_globals(_NUMPY_SCALARS):  # a learning rate of cosine runs before 7 Dec 2026
            ck = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise AffectlensError(f"checkpoint {path} not found") from None
    except Exception as exc:  # a refused global, or whatever a file that is no torch file makes torch.load raise
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        why = (
            f"it holds a Python object ({refused.group(1)}) besides tensors, numbers and strings, and checkpoints "
            "are read without running their code"
            if refused
            else "PyTorch cannot read it"
        )
        raise AffectlensError(f"{path}: not a checkpoint written by `affectlens train`: {why}") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise AffectlensError(f"{path}: not a checkpoint written by `affectlens train`: no {', '.join(missing)}")
    return ck


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, TrainConfig, Preprocess, dict]:
    """A trained model (the EMA weights where used) with its config, preprocessing and history."""
    ck = read_checkpoint(path)
    try:
        cfg, pre = TrainConfig.from_dict(ck["config"]), Preprocess.from_dict(ck["preprocess"])
        model = create_model(cfg.model, in_chans=pre.channels)
        model.load_state_dict(ck["weights"])
    except AffectlensError:
        raise
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:  # another version's config, other weights
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AffectlensError(f"{path}: its configuration or weights do not load ({why[:200]})") from None
    model.eval()
    return model, cfg, pre, ck
