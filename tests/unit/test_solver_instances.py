"""The benchmark readers (Solomon / Gehring-Homberger VRPTW, Li & Lim PDPTW) on the shared files,
their best-known solutions, exact distances, and `lastmile bench vrp` on one small instance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lastmile.cli.main import app
from lastmile.routing.solver import instances
from lastmile.routing.solver.instances import SCALE
from lastmile.routing.solver.model import Plan, Step, StepKind, Window

pytestmark = pytest.mark.unit

DATA = Path("/work/shared/data/vrp")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared benchmark data not mounted")

SOLOMON = """C101

VEHICLE
NUMBER     CAPACITY
  25         200

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      40         50          0          0       1236          0
    1      45         68         10        912        967         90
    2      43         50         30        825        870         90
"""

LILIM = """2\t200\t1
0\t40\t50\t0\t0\t1236\t0\t0\t0
1\t45\t68\t-10\t912\t967\t90\t2\t0
2\t45\t70\t10\t825\t870\t90\t0\t1
"""


def test_solomon_text_becomes_a_scaled_problem(tmp_path: Path) -> None:
    """Jobs, fleet, capacity, windows and service scaled by 1000; depot due date is the shift end."""
    path = tmp_path / "solomon" / "C101.txt"
    path.parent.mkdir()
    path.write_text(SOLOMON)
    inst = instances.read(path)
    p = inst.problem
    assert (inst.family, inst.kind, inst.customers) == ("solomon", "vrptw", 2)
    assert len(p.vehicles) == 25 and p.vehicles[0].capacity == (200,)
    assert p.vehicles[0].shift == Window(0, 1236 * SCALE)
    job = p.job_by_id["1"]
    assert job.delivery is not None and job.pickup is None and job.amount == (10,)
    assert job.delivery.windows == (Window(912_000, 967_000),)
    assert job.delivery.service == 90_000
    assert p.matrices["car"].distances[0][2] == 3000  # (40, 50) -> (43, 50)
    assert p.matrices["car"].durations[0][1] == round(math.dist((40, 50), (45, 68)) * SCALE)


def test_li_lim_text_becomes_pairs(tmp_path: Path) -> None:
    """Each pickup line with its delivery index becomes one pair job carrying its demand."""
    path = tmp_path / "lc999.txt"
    path.write_text(LILIM)
    inst = instances.read(path)
    assert (inst.kind, inst.customers, len(inst.problem.vehicles)) == ("pdptw", 2, 2)
    [job] = inst.problem.jobs
    assert job.pickup is not None and job.delivery is not None
    assert (job.pickup.location, job.delivery.location, job.amount) == (2, 1, (10,))


def test_distance_is_recomputed_in_doubles(tmp_path: Path) -> None:
    """A route depot -> 2 -> 1 -> depot measures the exact Euclidean legs, not the integers."""
    path = tmp_path / "C101.txt"
    path.write_text(SOLOMON)
    inst = instances.read(path)
    plan = Plan({"v1": [Step(StepKind.DELIVERY, "2"), Step(StepKind.DELIVERY, "1")]}, [])
    legs = [((40, 50), (43, 50)), ((43, 50), (45, 68)), ((45, 68), (40, 50))]
    assert instances.distance(inst, plan) == pytest.approx(sum(math.dist(a, b) for a, b in legs))


def test_bks_comes_from_the_nearest_bks_csv_above(tmp_path: Path) -> None:
    """Both objectives are read; rows of other instances are ignored."""
    (tmp_path / "bks.csv").write_text(
        "instance,objective,vehicles,distance,source\n"
        "C101,hierarchical,10,828.94,x\nC101,distance,10,828.90,y\nR101,distance,20,1,z\n"
    )
    path = tmp_path / "solomon" / "C101.txt"
    path.parent.mkdir()
    path.write_text(SOLOMON)
    bks = instances.read(path).bks
    assert sorted(bks) == ["distance", "hierarchical"]
    assert (bks["distance"].vehicles, bks["distance"].distance) == (10, 828.90)


@needs_data
def test_the_shared_files_parse() -> None:
    """Every shared instance reads, with its size, fleet and a BKS."""
    expected = {"C101": 100, "R201": 100, "r1_2_1": 200, "r1_10_1": 1000, "lc101": 106}
    for path in sorted(DATA.rglob("*.txt")):
        inst = instances.read(path)
        assert inst.problem.jobs and inst.problem.vehicles and inst.bks, path
        if inst.name in expected:
            assert inst.customers == expected[inst.name]
    c101 = instances.read(DATA / "solomon" / "C101.txt")
    assert c101.bks["distance"].distance == 828.94
    lr = instances.read(DATA / "lilim" / "LR1_2_1.txt")
    assert lr.kind == "pdptw" and len(lr.problem.jobs) == 105 and len(lr.problem.vehicles) == 50


@needs_data
def test_bench_vrp_command_prints_a_feasible_result() -> None:
    """`lastmile bench vrp FILE --time-limit 0.5 --json`: one feasible row with its gaps."""
    result = CliRunner().invoke(
        app, ["bench", "vrp", str(DATA / "lilim" / "lc101.txt"), "--time-limit", "0.5", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    [row] = report["instances"]
    assert row["instance"] == "lc101" and row["feasible"] and row["unassigned"] == 0
    assert row["wall_seconds"] < 0.6
    assert row["gap_bks"] == "hierarchical" and row["gap_percent"] < 5
    assert report["groups"]["lilim-100"]["all_feasible"]


@needs_data
def test_bench_vrp_text_table_names_the_bks() -> None:
    """The text report has one line per instance and the group means, naming the BKS used."""
    result = CliRunner().invoke(
        app, ["bench", "vrp", str(DATA / "solomon" / "C101.txt"), "--time-limit", "0.3"]
    )
    assert result.exit_code == 0, result.output
    assert "distance 828.94" in result.output and "solomon-100" in result.output
