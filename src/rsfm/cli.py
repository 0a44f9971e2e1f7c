"""``rsfm`` command line: inspect the dataset registry and check a config without running the workflow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rsfm.errors import RsfmError

REPO = Path(__file__).resolve().parents[2]


def _datasets(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from rsfm.data.registry import DATASETS, get_dataset

    if args.show:
        spec = get_dataset(args.show)
        print(f"{spec.title}\n  homepage: {spec.homepage}\n  license: {spec.license}\n  citation: {spec.citation}")
        print(f"  files: {', '.join(f.name for f in spec.files)}")
        print(f"  layout after extraction: {', '.join(spec.layout)}")
        if spec.manual:
            print(f"  how to get it: {spec.manual_instructions}")
        return
    table = Table(title="Datasets known to rsfm (details: rsfm datasets --show NAME)")
    for column in ("name", "task", "download", "files", "license"):
        table.add_column(column, overflow="fold")
    for spec in DATASETS.values():
        table.add_row(
            spec.name, spec.task, "by hand" if spec.manual else "automatic", ", ".join(f.name for f in spec.files),
            spec.license,
        )  # fmt: skip
    Console().print(table)


def _models(args: argparse.Namespace) -> None:
    import pandas as pd

    from rsfm.models.accounting import size_table

    table = pd.DataFrame(size_table()).rename(
        columns={
            "params_M": "params (M)",
            "paper_params_M": "paper (M)",
            "diff_pct": "diff %",
            "gflops_224": "GFLOPs@224",
        }
    )
    print("Parallel-scaled ViTs: parameters measured with timm vs paper 1, FLOPs from torch's counter at 224 x 224")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}", na_rep="-"))


def _check_config(args: argparse.Namespace) -> None:
    from rsfm.config import load_config
    from rsfm.workflow import workflow_rules

    load_config(args.config, args.schema, rules=workflow_rules(REPO / "Snakefile"), base_dir=REPO)
    print(f"{args.config}: valid")


def _dvc_run(args: argparse.Namespace) -> None:
    from rsfm.dvc_runs import write_run

    profile = f" --profile {args.profile}" if args.profile else ""
    command = f"rsfm dvc-run {args.run_dir} --config {args.config}{profile}"
    path = write_run(args.run_dir, repo=REPO, config=args.config, profile=args.profile, command=command)
    print(f"wrote {path}; run it with: cd {args.run_dir} && dvc repro")


def _export_slim(args: argparse.Namespace) -> None:
    from rsfm.config import load_config
    from rsfm.slimming.export import export_encoder
    from rsfm.slimming.export_paths import export_folder
    from rsfm.workflow import workflow_rules

    config = load_config(args.config, REPO / "workflow/schemas/config.schema.yaml",
                         rules=workflow_rules(REPO / "Snakefile"), base_dir=REPO)  # fmt: skip
    out = args.out or Path(export_folder(args.encoder, flops=args.flops, width=args.width))
    choice = export_encoder(config["slimming"], args.encoder, [args.sweep], out, flops=args.flops, width=args.width,
                            pretrain_dir=args.pretrain_dir)  # fmt: skip
    print(f"{out}: {choice.encoder} at width {choice.width:g} ({choice.variant}), {choice.rel_flops:.3f} of its "
          f"FLOPs, retention {choice.retention:.3f}; load it with timm.create_model('local-dir:{out}', "
          "pretrained=True)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rsfm", description=__doc__)
    sub = parser.add_subparsers(required=True)
    datasets = sub.add_parser("datasets", help="list the dataset registry")
    datasets.add_argument("--show", metavar="NAME", help="details and download instructions of one dataset")
    datasets.set_defaults(func=_datasets)
    sub.add_parser("models", help="parameter and FLOP table of the model sizes").set_defaults(func=_models)
    check = sub.add_parser("check-config", help="validate a config file against the schema")
    check.add_argument("config", type=Path)
    check.add_argument("--schema", type=Path, default=REPO / "workflow/schemas/config.schema.yaml")
    check.set_defaults(func=_check_config)
    run = sub.add_parser("dvc-run", help="write a DVC pipeline that runs another config (and profile) in its folder")
    run.add_argument("run_dir", type=Path, help="the run's folder inside the repository, e.g. runs/paper")
    run.add_argument("--config", type=Path, required=True, help="the run's config, e.g. config/paper.yaml")
    run.add_argument("--profile", help="Snakemake profile: a folder (profiles/slurm) or an installed profile's name")
    run.set_defaults(func=_dvc_run)
    slim = sub.add_parser("export-slim", help="write the best slimmed width under a FLOPs budget as a timm model")
    slim.add_argument("--encoder", required=True, help="an entry of slimming.encoders, e.g. vit_b12x1")
    budget = slim.add_mutually_exclusive_group(required=True)
    budget.add_argument("--flops", type=float, help="FLOPs budget relative to the full encoder, e.g. 0.5")
    budget.add_argument("--width", type=float, help="a width of the sweep, e.g. 0.25")
    slim.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="the run's config")
    slim.add_argument("--sweep", type=Path, default=Path("results/slimming/probes.csv"), help="the sweep's table")
    slim.add_argument("--pretrain-dir", type=Path, default=Path("results/pretrain"), help="our encoders' exports")
    slim.add_argument("--out", type=Path, help="default: results/slimming/export/<encoder>/<flops|width><value>")
    slim.set_defaults(func=_export_slim)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except RsfmError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
