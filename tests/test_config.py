import copy

import pytest
import yaml

from rsfm.config import load_config, validate_config
from rsfm.errors import ConfigError

from .conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


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
    with pytest.raises(ConfigError, match=r"'data\.datasets\.dota_v3' is not allowed .*dota_v2"):
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
