"""Each job's params are the settings it reads, so an edit reruns the jobs that read it and no others (Snakemake
reruns a job whose params changed). The whole-workflow rerun sets are checked in the end-to-end test."""

import copy
import json

from rsfm.finetune.configs import resolve_settings
from rsfm.finetune.run import job_config, launch_settings
from rsfm.slimming import jobs

from .conftest import validate_default


def test_each_finetuning_job_gets_only_its_benchmark_and_size():
    section = validate_default()["finetune"]
    edited = json.loads(json.dumps(section))  # the YAML's anchors share one options mapping; edit one benchmark's
    edited["per_benchmark"]["potsdam"]["options"]["model.decode_head.channels"] = 64
    edited["per_size"] = {"vit_tiny12x4": {"layer_decay": 0.9, "nodes": 1}}
    edited["run"]["runtime"] = 999  # the scheduler's
    edited["fractions"] = [0.25, 1.0]  # which jobs exist, not what one of them does
    for benchmark in ("dota_v2", "dior_r", "loveda"):
        assert job_config(edited, benchmark, "vit_tiny12x1") == job_config(section, benchmark, "vit_tiny12x1")
    assert job_config(edited, "potsdam", "vit_tiny12x1") != job_config(section, "potsdam", "vit_tiny12x1")
    assert job_config(edited, "dior_r", "vit_tiny12x4") != job_config(section, "dior_r", "vit_tiny12x4")
    # the job reads of its slice what it would read of the whole section
    job = job_config(edited, "potsdam", "vit_tiny12x4")
    assert resolve_settings(job, "potsdam", "vit_tiny12x4") == resolve_settings(edited, "potsdam", "vit_tiny12x4")
    assert launch_settings(job, "vit_tiny12x4") == {
        k: v
        for k, v in launch_settings(edited, "vit_tiny12x4").items()
        if k not in ("runtime", "mem_mb", "cpus_per_task")
    }


def test_each_slimming_job_gets_only_what_it_reads():
    section = validate_default()["slimming"]
    seeds = {**copy.deepcopy(section), "seeds": [0, 1]}
    widths = {**copy.deepcopy(section), "widths": [0.5, 1.0]}
    other = copy.deepcopy(section)
    other["encoders"]["vit_tiny12x4"] = {"img_size": 32}
    resources = copy.deepcopy(section)
    resources["run"]["mem_mb"] = 12345
    for edited in (other, resources):  # another encoder's entry, the scheduler's settings: no job of this encoder
        for job in ("features", "probe", "redundancy"):
            assert jobs.__dict__[f"{job}_config"](edited, "vit_tiny12x1") == jobs.__dict__[f"{job}_config"](
                section, "vit_tiny12x1"
            ), job  # fmt: skip
    # probe seeds rerun the probes, not the sweeps; widths rerun the sweeps (and through them the probes)
    assert jobs.features_config(seeds, "vit_tiny12x1") == jobs.features_config(section, "vit_tiny12x1")
    assert jobs.probe_config(seeds, "vit_tiny12x1") != jobs.probe_config(section, "vit_tiny12x1")
    assert jobs.features_config(widths, "vit_tiny12x1") != jobs.features_config(section, "vit_tiny12x1")
    assert jobs.probe_config(widths, "vit_tiny12x1") == jobs.probe_config(section, "vit_tiny12x1")
    assert jobs.redundancy_config(seeds, "vit_tiny12x1") == jobs.redundancy_config(widths, "vit_tiny12x1")
    gpus = {**copy.deepcopy(section), "run": {**section["run"], "gpus": 1}}
    assert jobs.features_config(gpus, "vit_tiny12x1")["run"] == {"gpus": 1}  # the device stays with the job
