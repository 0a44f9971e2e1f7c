import copy

import pytest
import yaml

from rsfm.config import load_config, validate_config
from rsfm.errors import ConfigError
from rsfm.workflow import workflow_rules

from .conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
RULES = workflow_rules(REPO / "Snakefile")


@pytest.fixture
def default_config() -> dict:
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    config = load_config(REPO / "config" / name, SCHEMA)
    assert config["data"]["datasets"]


def test_defaults_are_filled(default_config):
    config = validate_config(default_config, SCHEMA)
    assert config["data"]["datasets"]["dota_v2"]["tiling"]["truncated_difficulty"] == 2
    assert config["data"]["datasets"]["potsdam"]["crop"]["stride"] == 384
    assert "truncated_difficulty" not in default_config["data"]["datasets"]["dota_v2"]["tiling"], "input mutated"


def test_unknown_key_is_named(default_config):
    bad = copy.deepcopy(default_config)
    bad["data"]["datasets"]["dota_v2"]["tiling"]["gapp"] = 100
    with pytest.raises(ConfigError, match=r"'data\.datasets\.dota_v2\.tiling\.gapp' is not allowed"):
        validate_config(bad, SCHEMA)


def test_unknown_dataset_is_named(default_config):
    bad = copy.deepcopy(default_config)
    bad["data"]["datasets"]["dota_v3"] = {"source": "synthetic"}
    with pytest.raises(ConfigError, match=r"'data\.datasets\.dota_v3' is not allowed; did you mean 'dota_v2'"):
        validate_config(bad, SCHEMA)


def test_wrong_type_is_named(default_config):
    bad = copy.deepcopy(default_config)
    bad["data"]["workers"] = "two"
    bad["data"]["datasets"]["potsdam"]["crop"]["size"] = 51.2
    with pytest.raises(ConfigError) as info:
        validate_config(bad, SCHEMA)
    assert "'data.workers' must be of type integer, got string 'two'" in str(info.value)
    assert "'data.datasets.potsdam.crop.size' must be of type integer" in str(info.value)


def test_bad_enum_lists_choices(default_config):
    bad = copy.deepcopy(default_config)
    bad["data"]["datasets"]["potsdam"]["clutter"] = "drop"
    with pytest.raises(ConfigError, match=r"clutter' must be one of 'class', 'ignore', got 'drop'"):
        validate_config(bad, SCHEMA)


def test_cross_field_rules(default_config, tmp_path):
    bad = copy.deepcopy(default_config)
    bad["data"]["datasets"]["dota_v2"]["tiling"]["gap"] = 1024
    bad["data"]["datasets"]["eurosat"]["split"] = {"train": 0.5, "val": 0.2, "test": 0.2}
    bad["data"]["datasets"]["loveda"] = {"source": "extracted"}
    with pytest.raises(ConfigError) as info:
        validate_config(bad, SCHEMA)
    message = str(info.value)
    assert "tiling.gap' (1024) must be smaller than size" in message
    assert "train + val + test must be 1" in message
    assert "'data.datasets.loveda.path' is required with source 'extracted'" in message
    ok = copy.deepcopy(default_config)
    ok["data"]["datasets"]["loveda"] = {"source": "extracted", "path": str(tmp_path)}
    validate_config(ok, SCHEMA)


def test_cli(tmp_path, capsys):
    from rsfm.cli import main

    assert main(["check-config", str(REPO / "config/paper.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {datasets: {}, wrkers: 2}\n")
    assert main(["check-config", str(bad)]) == 1
    assert "config key 'data.wrkers' is not allowed" in capsys.readouterr().err
    assert main(["datasets", "--show", "potsdam"]) == 0
    assert "data request form" in capsys.readouterr().out
    assert main(["datasets", "--show", "nope"]) == 1


def _set(config: dict, dotted: str, value) -> None:
    *parents, last = dotted.split("/")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


# one malformed edit of the default config per case, and what its error must say: typos at every level, wrong types,
# out-of-range values, unknown sizes, rules and bands, settings that contradict each other
MALFORMED = {
    "top-level typo": ("pretrainn", {"sizes": ["vit_tiny12x1"]}, "'pretrainn' is not allowed; did you mean 'pretrain'"),
    "nested typo": ("data/datasets/dota_v2/tiling/gapp", 100, "'data.datasets.dota_v2.tiling.gapp' is not allowed"),
    "unknown dataset": ("data/datasets/dota_v3", {"source": "synthetic"}, "did you mean 'dota_v2'"),
    "misspelt pretraining size": (
        "pretrain/per_size/vit_g12x4x",
        {"nodes": 8},
        "'pretrain.per_size.vit_g12x4x' is not allowed; did you mean 'vit_g12x4'",
    ),
    "misspelt fine-tuning size": (
        "finetune/per_size/vit_tiny12x44",
        {"layer_decay": 0.9},
        "'finetune.per_size.vit_tiny12x44' is not allowed",
    ),
    "misspelt rule": (
        "resources/rules/tilee",
        {"mem_mb": 8000},
        "'resources.rules.tilee' is not allowed; did you mean 'tile'",
    ),
    "misspelt band": (
        "slimming/input/bands",
        {"geobench": ["04 - Redd", "03 - Green", "02 - Blue"]},
        "'slimming.input.bands.geobench[0]' is not allowed; did you mean '04 - Red'",
    ),
    "misspelt layout": (
        "slimming/input/scale",
        {"geobenchh": 5000},
        "'slimming.input.scale.geobenchh' is not allowed; did you mean 'geobench'",
    ),
    "misspelt mm option": (
        "finetune/per_benchmark/potsdam/options",
        {"model.decode_head.chanels": 32},
        "'finetune.per_benchmark.potsdam.options.model.decode_head.chanels': the built config has no key "
        "'model.decode_head.chanels'; did you mean 'model.decode_head.channels'",
    ),
    "mm option the toolbox would ignore": (
        "finetune/per_benchmark/dior_r/options",
        {"model.test_cfg.rpn.nms_pree": 10},
        "'finetune.per_benchmark.dior_r.options.model.test_cfg.rpn.nms_pree': the built config has no key",
    ),
    "wrong type": ("data/workers", "two", "'data.workers' must be of type integer, got string 'two'"),
    "wrong type, nested": ("pretrain/epochs", "ten", "'pretrain.epochs' must be of type number"),
    "out of range": ("pretrain/mask_ratio", 1.5, "'pretrain.mask_ratio': 1.5 is greater than or equal to"),
    "width out of range": ("slimming/widths", [0.5, 1.0, 1.5], "'slimming.widths.2': 1.5 is greater than"),
    "unknown size": ("pretrain/sizes", ["vit_tiny12x2"], "'pretrain.sizes.0' must be one of"),
    "bands the imagery lacks": (
        "data/datasets/potsdam/bands",
        ["IR", "R", "G"],
        "'data.datasets.potsdam.bands': IR not in imagery RGB",
    ),
    "bad choice": ("data/datasets/potsdam/clutter", "drop", "clutter' must be one of 'class', 'ignore', got 'drop'"),
    "gap not below size": ("data/datasets/dota_v2/tiling/gap", 1024, "tiling.gap' (1024) must be smaller than size"),
    "warm-up past the end": (
        "finetune/schedule/warmup_iters",
        12,
        "'finetune.schedule.warmup_iters': warmup_iters 12 must be below max_iters 12",
    ),
    "tasks not a multiple of nodes": (
        "pretrain/per_size/vit_tiny12x4",
        {"nodes": 2, "tasks": 3},
        "'pretrain.per_size.vit_tiny12x4.tasks' (3) must be a multiple of nodes (2)",
    ),
    "no full width": ("slimming/widths", [0.25, 0.5], "'slimming.widths' must include 1.0"),
    "split not summing to 1": ("data/datasets/eurosat/split", {"train": 0.5, "val": 0.2, "test": 0.2}, "must be 1"),
    "fine-tuning an unpretrained size": ("finetune/sizes", ["vit_b12x1"], "'vit_b12x1' is not pretrained here"),
    "misspelt encoder": ("slimming/encoders/vit_tiny12x1_mocoo", {}, "pretrain.runs; did you mean 'vit_tiny12x1_moco'"),
    "bands a dataset lacks": (
        "slimming/encoders/vit_tiny12x1/bands",
        {"geobench": ["04 - Red", "03 - Green", "10 - SWIR - Cirrus"]},
        "'slimming.encoders.vit_tiny12x1': geobench_m_bigearthnet has no bands ['10 - SWIR - Cirrus']; set missing",
    ),
    "mean of other length than bands": (
        "slimming/input/mean",
        [0.5, 0.5],
        "'slimming.input': 3 bands for geobench but 2 values of mean",
    ),
    "input size off the patch grid": (
        "finetune/schedule/img_size",
        130,
        "not a multiple of the encoder's patch size 8",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_config_is_named(default_config, case):
    path, value, message = MALFORMED[case]
    _set(default_config, path, value)
    with pytest.raises(ConfigError) as info:
        validate_config(default_config, SCHEMA, rules=RULES, base_dir=REPO)
    assert message in str(info.value)


def test_every_problem_of_a_config_is_named_at_once(default_config):
    for path, value, _ in MALFORMED.values():
        if path not in ("pretrain/sizes", "slimming/widths"):  # cases that replace what others edit
            _set(default_config, path, value)
    with pytest.raises(ConfigError) as info:
        validate_config(default_config, SCHEMA, rules=RULES, base_dir=REPO)
    missing = [case for case, (path, _, message) in MALFORMED.items()
               if path not in ("pretrain/sizes", "slimming/widths") and message not in str(info.value)]  # fmt: skip
    assert not missing, str(info.value)


def test_rule_names_read_from_the_rule_files_are_snakemakes(tmp_path):
    import subprocess
    import sys

    listed = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", "--snakefile", str(REPO / "Snakefile"),
         "--configfile", str(REPO / "config/config.yaml"), "--directory", str(tmp_path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert sorted(listed) == RULES
