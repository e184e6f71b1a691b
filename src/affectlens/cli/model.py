"""Model verbs: train, eval, export, benchmark-models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from affectlens.cli.app import app
from affectlens.cli.common import resolve_model


@app.command("train")
def train_cmd(
    out: Annotated[Path, typer.Option("--out", help="run folder: checkpoints, metrics.csv, run.json")],
    model: Annotated[str, typer.Option("--model", help="architecture name (see `affectlens models`)")] = "affect_cnn",
    dataset: Annotated[
        list[str], typer.Option("--dataset", help="KIND:PATH of a training set; repeat to train on several")
    ] = ["ferplus:../shared/data/ferplus"],  # noqa: B006
    valid: Annotated[
        str, typer.Option("--valid", help="KIND:PATH of the validation set ('none' to skip)")
    ] = "ferplus:../shared/data/ferplus",
    valid_split: Annotated[str, typer.Option("--valid-split")] = "valid",
    epochs: Annotated[int, typer.Option("--epochs")] = 30,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 128,
    lr: Annotated[float, typer.Option("--lr")] = 0.1,
    weight_decay: Annotated[float, typer.Option("--weight-decay")] = 5e-4,
    input_size: Annotated[
        int, typer.Option("--input-size", help="face crop size in pixels (0: the architecture's default)")
    ] = 0,
    color: Annotated[str | None, typer.Option("--color", help="gray | rgb crops (default: the architecture's)")] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="sgd | adamw")] = "sgd",
    schedule: Annotated[str, typer.Option("--schedule", help="onecycle | cosine")] = "onecycle",
    class_weights: Annotated[str, typer.Option("--class-weights", help="none | balanced | sqrt")] = "none",
    logit_adjust: Annotated[
        float, typer.Option("--logit-adjust", help="tau of the logit-adjusted loss for rare classes (0 = off)")
    ] = 0.0,
    hard_labels: Annotated[
        bool, typer.Option("--hard-labels", help="train on majority labels, not vote distributions")
    ] = False,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing")] = 0.05,
    mixup: Annotated[float, typer.Option("--mixup", help="mixup alpha (0 = off)")] = 0.0,
    cutmix: Annotated[float, typer.Option("--cutmix", help="cutmix alpha (0 = off)")] = 0.0,
    ema: Annotated[float, typer.Option("--ema", help="weight EMA decay (0 = off)")] = 0.999,
    early_stop: Annotated[int, typer.Option("--early-stop", help="stop after N epochs without improvement")] = 0,
    precision: Annotated[str, typer.Option("--precision", help="auto | bf16 | fp32")] = "auto",
    distill: Annotated[
        Path | None, typer.Option("--distill", help=".npz of teacher probabilities (from `affectlens teach`)")
    ] = None,
    distill_weight: Annotated[
        float, typer.Option("--distill-weight", help="share of the teachers in the soft targets (rest: votes)")
    ] = 0.7,
    shape: Annotated[Path | None, typer.Option("--shape", help="shape targets (`affectlens shape-targets`)")] = None,
    shape_weight: Annotated[float, typer.Option("--shape-weight", help="weight of the face-shape loss")] = 0.5,
    backbone_lr: Annotated[
        float,
        typer.Option("--backbone-lr", help="learning rate of all but the last layer, as a share of --lr (fine-tuning)"),
    ] = 1.0,
    init: Annotated[
        Path | None, typer.Option("--init", help="start from this checkpoint's weights (fine-tune; new schedule)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="use only the first N training faces")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="continue from OUT/last.pt")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="live bar (off: one line per epoch, for log files)")
    ] = True,
) -> None:
    """Train an expression model on the CPU (or GPU) and checkpoint every epoch."""
    from affectlens.errors import AffectlensError
    from affectlens.train.augment import AugmentConfig
    from affectlens.train.loop import TrainConfig, train

    derived = {"train", "valid", "soft_labels", "distill", "shape", "init", "augment"}  # set below from other options
    options = {k: v for k, v in locals().items() if k in TrainConfig.__dataclass_fields__.keys() - derived}
    cfg = TrainConfig(
        **options,
        train=list(dataset),
        valid=None if valid == "none" else valid,
        soft_labels=not hard_labels,
        distill=str(distill) if distill else None,
        shape=str(shape) if shape else None,
        init=str(init) if init else None,
        augment=AugmentConfig(mixup_alpha=mixup, cutmix_alpha=cutmix),
    )
    if mixup < 0 or cutmix < 0:
        raise AffectlensError(f"--mixup {mixup} / --cutmix {cutmix}: alphas of at least 0 (0 = off)")
    best = train(cfg, out, resume=resume, progress=progress)
    if cfg.valid is None:  # (no validation set: no best epoch, the last one is kept)
        typer.echo(f"trained {cfg.epochs} epoch(s) without validation; checkpoints in {out} (last.pt)")
    else:
        typer.echo(f"best epoch {best.get('epoch')}: valid accuracy {best['valid_accuracy']:.4f}; checkpoints in {out}")


@app.command("teach")
def teach_cmd(
    out: Annotated[Path, typer.Option("--out", help="the .npz file of soft targets to write")],
    teacher: Annotated[
        list[str], typer.Option("--teacher", help="a .pt checkpoint or .onnx model; repeat for an ensemble")
    ],
    dataset: Annotated[
        list[str], typer.Option("--dataset", help="KIND:PATH of the student's training sets, in the same order")
    ] = ["ferplus:../shared/data/ferplus"],  # noqa: B006
    student: Annotated[str, typer.Option("--student", help="the student's architecture (its crop)")] = "affect_cnn",
    input_size: Annotated[
        int, typer.Option("--input-size", help="the student's --input-size (0: the architecture's default)")
    ] = 0,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="average each face with its mirror image")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="a bar over the teachers' faces")] = True,
) -> None:
    """Soft targets for distillation: the teachers' mean probabilities on the training faces."""
    from affectlens.train.distill import teach
    from affectlens.train.loop import TrainConfig

    pre = TrainConfig(model=student, input_size=input_size).preprocess()
    meta = teach(teacher, list(dataset), out, student=pre, flip=flip, progress=progress)
    per = ", ".join(f"{a:.3f}" for a in meta["train_accuracy_per_teacher"])
    typer.echo(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {meta['n']} faces): ensemble train accuracy "
        f"{meta['train_accuracy_of_ensemble']:.4f} (teachers {per}); train with --distill {out}"
    )


@app.command("shape-targets")
def shape_targets_cmd(
    out: Annotated[Path, typer.Option("--out", help="the .npz file of shape coefficients to write")],
    dataset: Annotated[
        list[str], typer.Option("--dataset", help="KIND:PATH of the training sets, in `train`'s order")
    ] = ["ferplus:../shared/data/ferplus"],  # noqa: B006
    components: Annotated[int, typer.Option("--components", help="principal components of the face shape")] = 24,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Face-shape targets for `train --shape`: the face mesh's pose-free shape of every training face."""
    from affectlens.train.shape import write_shape_file

    meta = write_shape_file(list(dataset), out, components=components, progress=progress)
    found = ", ".join(f"{d['dataset']} {d['mesh_found']:.1%}" for d in meta["per_dataset"])
    typer.echo(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {meta['n']} faces, {components} components explaining "
        f"{meta['explained_variance']:.1%} of the shape); mesh found: {found}; train with --shape {out}"
    )


@app.command("eval")
def eval_cmd(
    dataset: Annotated[str, typer.Option("--dataset", help="KIND:PATH, KIND in ferplus, fer2013, rafdb, imagefolder")],
    model: Annotated[
        str | None, typer.Option("--model", help="shipped model name, .onnx file or .pt checkpoint")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="train | valid | test")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="write metrics.json and figures here")] = None,
    keep_duplicates: Annotated[
        bool, typer.Option("--keep-duplicates", help="FER+: keep valid/test images identical to a training image")
    ] = False,
) -> None:
    """Evaluate a model on a dataset split with ONNX Runtime (no PyTorch needed)."""
    import json

    from affectlens.classify import get_model
    from affectlens.datasets import load_dataset, require_apart
    from affectlens.errors import AffectlensError
    from affectlens.evaluate.runner import evaluate

    if out is not None and out.exists() and not out.is_dir():  # (said after the whole evaluation, as Errno 17)
        raise AffectlensError(f"--out {out} is a file: give a folder for metrics.json and the figures")
    clf = get_model(resolve_model(model) if model else None).prepare()
    try:  # a figure on the training images may be wanted (training accuracy), but it is said to be one
        require_apart((dataset, split), "--dataset", training_sets(clf.card.training))
    except AffectlensError as exc:
        typer.echo(f"warning: {exc}", err=True)
    ds = load_dataset(dataset, split, exclude_duplicates=not keep_duplicates)
    report, probs = evaluate(clf, ds)
    if out is not None:
        _write_eval_outputs(out, report, clf, ds, probs)
        report["outputs"] = str(out)
    if as_json:
        typer.echo(json.dumps(report, allow_nan=False))
        return
    _print_report(report)


def _write_eval_outputs(out: Path, report: dict, clf, ds, probs) -> None:
    import json

    from affectlens.evaluate.plots import plot_confusion, plot_gallery, plot_learning_curves

    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2, allow_nan=False))
    title = (
        f"{report['model']} on {report['dataset']} {report['split']} (n={report['n']}, acc {report['accuracy']:.3f})"
    )
    plot_confusion(report["confusion_matrix"], report["classes"], out / "confusion_matrix.png", title)
    crops = clf.preprocess.crop_images(ds.images)
    plot_gallery(crops, ds.labels, probs, report["classes"], out / "misclassified.png")
    plot_learning_curves(clf.card.training.get("history", []), out / "learning_curves.png")


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{report['model']}[/] on {report['dataset']}:{report['split']}  n={report['n']}  "
        f"accuracy [bold]{report['accuracy']:.4f}[/]  macro-F1 {report['macro_f1']:.4f}  ECE {report['ece']:.4f}  "
        f"({report['faces_per_s']:.0f} faces/s)"
    )
    if "note" in report:
        console.print(f"[yellow]{report['note']}[/]")
    info = report.get("dataset_info", {})
    if info.get("excluded_train_duplicates"):
        console.print(f"excluded {info['excluded_train_duplicates']} images identical to training images")
    table = Table("class", "precision", "recall", "F1", "support")
    for c, m in report["per_class"].items():
        table.add_row(c, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    console.print(table)
    if "outputs" in report:
        console.print(f"figures and metrics.json in {report['outputs']}")


EvalOn = Annotated[list[str], typer.Option("--eval", help="KIND:PATH\\[@SPLIT] to measure into the card; repeatable")]
OnnxOut = Annotated[Path, typer.Option("--out", help="the .onnx file to write (its .json card goes beside it)")]
CardName = Annotated[str | None, typer.Option("--name", help="model name in the card")]
CalibrateOn = Annotated[
    str | None, typer.Option("--calibrate", help="KIND:PATH\\[@SPLIT] held-out data to fit the softmax temperature on")
]


@app.command("export")
def export_cmd(
    checkpoint: Annotated[
        list[Path], typer.Argument(help="a .pt checkpoint written by `affectlens train`; several: one ensemble")
    ],
    out: OnnxOut,
    name: CardName = None,
    crop_scale: Annotated[
        float | None, typer.Option("--crop-scale", help="detector box → crop scale for the card")
    ] = None,
    evaluate_on: EvalOn = [],  # noqa: B006
    calibrate: CalibrateOn = None,
    tta: Annotated[
        str, typer.Option("--tta", help="none | flip: average each face with its mirror image (2x compute)")
    ] = "none",
) -> None:
    """Export a checkpoint to ONNX with its model card; checks ONNX and PyTorch agree.

    With --calibrate, a temperature is fitted on that split (NLL) and stored in the card; every
    probability affectlens reports (eval, analyze) is then softmax(logits / T).
    """
    from affectlens.classify import get_model
    from affectlens.classify.card import card_path
    from affectlens.errors import AffectlensError
    from affectlens.train.export import export_onnx

    for c in checkpoint:
        if not c.is_file():
            raise AffectlensError(f"checkpoint {c} not found")
    path = export_onnx(list(checkpoint), out, name=name, crop_scale=crop_scale, tta=tta)  # refuses bad parity
    clf = get_model(path)
    parity = clf.card.metrics["onnx_parity_max_abs_diff"]
    _calibrate_and_measure(clf, calibrate, evaluate_on)
    clf.card.save(card_path(path))
    size = path.stat().st_size / 1e6
    typer.echo(f"wrote {path} ({size:.1f} MB) and {card_path(path)}; ONNX/PyTorch max |Δp| = {parity:.1e}")


Members = Annotated[list[str], typer.Argument(help="MODEL[=WEIGHT]: a shipped model name or .onnx file with its card")]


@app.command("compose")
def compose_cmd(
    member: Members,
    out: OnnxOut,
    name: CardName = None,
    evaluate_on: EvalOn = [],  # noqa: B006
    calibrate: CalibrateOn = None,
) -> None:
    """Compose exported models into one weighted ensemble graph (members may differ in input size).

    The first member's preprocessing is the ensemble's; the others' crops are made from it inside
    the graph. Each member's probabilities use its own card's temperature and class offsets.
    """
    import shlex
    import sys

    from affectlens.classify import get_model
    from affectlens.classify.card import card_path
    from affectlens.train.compose import compose_ensemble, parse_member

    path = compose_ensemble([parse_member(m) for m in member], out, name=name)
    clf = get_model(path)
    clf.card.training["command"] = "affectlens " + shlex.join(sys.argv[1:])
    _calibrate_and_measure(clf, calibrate, evaluate_on)
    clf.card.save(card_path(path))
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {card_path(path)}")


def training_sets(training: dict) -> list[tuple[str, str, str]]:
    """(spec, split, "the training set") of every dataset a card's training record names: its own, its
    ensemble members', the checkpoint it was fine-tuned from, the float graph of an int8 one."""
    found: list[tuple[str, str, str]] = []

    def walk(x) -> None:
        if isinstance(x, dict):
            if isinstance(x.get("data"), list) and isinstance(x.get("split"), str):
                found.extend((d, x["split"], "the training set") for d in x["data"] if isinstance(d, str))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(training)
    return found


def _calibrate_and_measure(clf, calibrate: str | None, evaluate_on: list[str]) -> None:
    """Fit the card's temperature on ``calibrate`` (KIND:PATH\\[@SPLIT], valid by default), then measure
    each of ``evaluate_on`` (test by default) into the card, echoing the figures."""
    from affectlens.datasets import load_dataset, require_apart
    from affectlens.train.export import calibrate_card, measure_into_card

    trained = training_sets(clf.card.training)
    if calibrate:
        spec, _, split = calibrate.partition("@")
        require_apart((spec, split or "valid"), "--calibrate", trained)
        trained.append((spec, split or "valid", "--calibrate"))
        ds = load_dataset(spec, split or "valid")
        calibrate_card(clf, ds)
        typer.echo(f"temperature {clf.card.temperature:.3f} fitted on {ds.name} {ds.split}: {clf.card.calibration}")
    for spec in evaluate_on:
        spec, _, split = spec.partition("@")
        require_apart((spec, split or "test"), "--eval", trained)
        ds = load_dataset(spec, split or "test")
        rep = measure_into_card(clf, ds, spec)
        typer.echo(
            f"{ds.name}_{ds.split}: accuracy {rep['accuracy']:.4f} macro-F1 {rep['macro_f1']:.4f} (n={rep['n']})"
        )


@app.command("quantize")
def quantize_cmd(
    model: Annotated[str, typer.Argument(help="shipped model name or .onnx file (with its card)")],
    out: Annotated[Path, typer.Option("--out", help="the int8 .onnx to write (its .json card goes beside it)")],
    calibrate_on: Annotated[
        list[str],
        typer.Option(
            "--calibrate-on",
            help="KIND:PATH\\[@SPLIT] faces that fix the activation ranges; repeatable (equal shares of each)",
        ),
    ],
    temperature_on: Annotated[
        str | None, typer.Option("--temperature-on", help="KIND:PATH\\[@SPLIT] held-out faces to refit the temperature")
    ] = None,
    evaluate_on: EvalOn = [],  # noqa: B006
    faces: Annotated[int, typer.Option("--faces", min=16, help="calibration faces")] = 1024,
    reduce_range: Annotated[
        bool,
        typer.Option(
            "--reduce-range/--full-range",
            help="7-bit weights, read the same on every CPU (full 8-bit weights saturate on CPUs without VNNI)",
        ),
    ] = True,
) -> None:
    """Quantise an expression model to int8 (ONNX Runtime static quantisation), measured into its card."""
    import shlex
    import sys

    from affectlens.classify import get_model
    from affectlens.classify.card import card_path
    from affectlens.datasets import load_dataset, require_apart
    from affectlens.evaluate.bench import bench_ours
    from affectlens.train.export import calibrate_card, measure_into_card
    from affectlens.train.quantize import check_out, quantize_classifier

    float_clf = get_model(model)
    out = check_out(float_clf, out)  # (a wrong --out is said before any work)
    trained = training_sets(float_clf.card.training)  # held-out sets are checked before the work starts
    if temperature_on:
        spec, _, split = temperature_on.partition("@")
        require_apart((spec, split or "valid"), "--temperature-on", trained)
        trained.append((spec, split or "valid", "--temperature-on"))
    for spec, _, split in (e.partition("@") for e in evaluate_on):
        require_apart((spec, split or "test"), "--eval", trained)
    sets = [load_dataset(spec, split or "train") for spec, _, split in (c.partition("@") for c in calibrate_on)]
    q = quantize_classifier(float_clf, sets, out, n=faces, reduce_range=reduce_range)
    q.card.training["command"] = "affectlens " + shlex.join(sys.argv[1:])
    if temperature_on:
        spec, _, split = temperature_on.partition("@")
        calibrate_card(q, load_dataset(spec, split or "valid"))
        typer.echo(f"temperature {q.card.temperature:.3f} refitted: {q.card.calibration}")
    for spec in evaluate_on:
        spec, _, split = spec.partition("@")
        ds = load_dataset(spec, split or "test")
        rep = measure_into_card(q, ds, spec)
        was = q.card.metrics.get(f"float_{ds.name}_{ds.split}", {}).get("accuracy")
        before = f" (float: {was:.4f})" if was is not None else ""
        typer.echo(f"{ds.name}_{ds.split}: accuracy {rep['accuracy']:.4f}{before} macro-F1 {rep['macro_f1']:.4f}")
        if not q.card.speed:  # speed on this machine, on the first evaluation set
            row = bench_ours(str(q.path), ds, threads=2)
            q.card.speed = {
                "faces_per_s_batched_2_threads": round(row.faces_per_s),
                "batch1_ms_median": round(row.batch1_ms, 2),
                "size_mb": round(row.size_mb, 2),
                "runtime": row.runtime,
            }
            typer.echo(f"speed: {q.card.speed}")
    q.card.save(card_path(q.path))
    typer.echo(f"wrote {q.path} ({q.path.stat().st_size / 1e6:.1f} MB) and {card_path(q.path)}")


@app.command("models")
def models_cmd() -> None:
    """List the shipped expression models and the trainable architectures."""
    from affectlens.classify import DEFAULT_MODEL, builtin_models, get_model

    for n in builtin_models():
        card = get_model(n).card
        acc = card.metrics.get("ferplus_test", {}).get("accuracy")
        mark = " (default)" if n == DEFAULT_MODEL else ""
        typer.echo(f"{n}{mark}: {card.architecture}, FER+ test accuracy {acc if acc is None else f'{acc:.4f}'}")
    try:
        from affectlens.train.models import REGISTRY
    except ImportError:
        typer.echo("architectures: install 'affectlens[train]' to list and train them")
        return
    typer.echo("architectures for `affectlens train --model`:")
    for spec in REGISTRY.values():
        typer.echo(f"  {spec.name}: {spec.description} ({spec.input_size} px {spec.color})")


@app.command("benchmark-models")
def benchmark_models_cmd(
    models: Annotated[
        list[str], typer.Option("--model", help="shipped name, .onnx or .pt; repeatable (default: shipped models)")
    ] = [],  # noqa: B006
    peers: Annotated[
        list[str], typer.Option("--peer", help="NAME=PYTHON: a peer runner and its environment's python")
    ] = [],  # noqa: B006
    datasets: Annotated[
        list[str], typer.Option("--dataset", help="KIND:PATH\\[@SPLIT] (default split test); repeatable")
    ] = ["ferplus:../shared/data/ferplus"],  # noqa: B006
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for every model")] = 2,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="also write the table to this file")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the rows as JSON")] = None,
) -> None:
    """Compare models and offline peers on the same faces: accuracy, macro-F1, recall, speed, size."""
    import json
    from dataclasses import asdict

    from affectlens.classify import builtin_models
    from affectlens.datasets import load_dataset
    from affectlens.errors import AffectlensError
    from affectlens.evaluate.bench import bench_ours, bench_peer, markdown_table

    names = [resolve_model(m) for m in models] or builtin_models()
    peer_specs = []
    for p in peers:
        name, sep, python = p.partition("=")
        if not sep:
            raise AffectlensError(f"--peer {p!r}: expected NAME=PATH_TO_PYTHON, e.g. fer=.venv-peer-fer/bin/python")
        if not Path(python).is_file():  # (said only after every model of ours had been measured)
            raise AffectlensError(f"--peer {p}: {python} is not a Python interpreter here")
        peer_specs.append((name, python))
    if threads < 1:
        raise AffectlensError(f"--threads {threads}: at least 1")
    rows = []
    for spec in datasets:
        spec, _, split = spec.partition("@")
        ds = load_dataset(spec, split or "test")
        for name in names:
            rows.append(bench_ours(name, ds, threads))
            typer.echo(f"{rows[-1].model} on {rows[-1].dataset}: {rows[-1].accuracy:.4f}", err=True)
        for name, python in peer_specs:
            rows.append(bench_peer(name, python, ds, threads))
            typer.echo(f"{rows[-1].model} on {rows[-1].dataset}: {rows[-1].accuracy:.4f}", err=True)
    from affectlens.runtime import machine_line

    table = markdown_table(rows) + f"\n\nMeasured on {machine_line()}, {threads} threads per model."
    typer.echo(table)
    if markdown:
        markdown.write_text(table + "\n")
    if json_out:
        json_out.write_text(json.dumps([asdict(r) for r in rows], indent=2))
