"""`lastmile bench vrp`: the route solver on academic instances, against their best-known solutions.

    lastmile bench vrp /work/shared/data/vrp --time-limit 2 [--engine pyvrp] [--json]

Each instance (Solomon, Gehring-Homberger, Li & Lim text files; folders are searched) is solved
once with `solve.solve` and the given wall-clock budget. Distances are in the instance's units,
recomputed from the coordinates in double precision; feasibility is the checker's verdict; gaps
are `(distance - bks) / bks` for every BKS the nearest `bks.csv` knows (`distance`: distance
alone; `hierarchical`: fewest vehicles first). The headline gap uses the distance-only BKS when
there is one, else the hierarchical one, and says which.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Benchmarks.", no_args_is_help=True)


def instance_files(paths: list[Path]) -> list[Path]:
    """The instance files named, and those found (recursively) in the folders named."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*.txt") if p.name.lower() != "readme.txt"))
        elif path.is_file():
            out.append(path)
        else:
            raise typer.BadParameter(f"no such file or folder: {path}")
    return out


def gap(distance: float, bks: float) -> float:
    return round(100.0 * (distance - bks) / bks, 3) + 0.0  # + 0.0: no "-0.00"


def run_instance(path: Path, time_limit: float, engine: str | None, seed: int) -> dict[str, Any]:
    """Solve one instance and measure it."""
    from lastmile.routing.solver import instances
    from lastmile.routing.solver.checker import check
    from lastmile.routing.solver.solve import solve

    inst = instances.read(path)
    started = time.monotonic()
    solution = solve(inst.problem, time_limit, engine=engine, seed=seed)
    wall = time.monotonic() - started
    violations = check(inst.problem, solution.plan)
    distance = instances.distance(inst, solution.plan)
    gaps = {
        objective: {
            "bks": bks.distance,
            "bks_vehicles": bks.vehicles,
            "gap_percent": gap(distance, bks.distance),
        }
        for objective, bks in sorted(inst.bks.items())
    }
    headline = "distance" if "distance" in gaps else "hierarchical" if gaps else None
    return {
        "instance": inst.name,
        "family": inst.family,
        "kind": inst.kind,
        "group": group_of(inst.family, inst.customers),
        "customers": inst.customers,
        "vehicles": solution.vehicles,
        "fleet": len(inst.problem.vehicles),
        "distance": round(distance, 2),
        "wall_seconds": round(wall, 3),
        "feasible": not violations and not solution.plan.unassigned,
        "violations": len(violations),
        "unassigned": len(solution.plan.unassigned),
        "engine": solution.engine,
        "gaps": gaps,
        "gap_percent": gaps[headline]["gap_percent"] if headline else None,
        "gap_bks": headline,
        "notes": list(solution.notes),
    }


def group_of(family: str, customers: int) -> str:
    """Family and size class: solomon-100, homberger-200, lilim-100 (106 tasks) ..."""
    return f"{family}-{max(100, round(customers / 100) * 100)}"


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Means per family and size class."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    out = {}
    for name, members in sorted(groups.items()):
        gaps = [r["gap_percent"] for r in members if r["gap_percent"] is not None]
        out[name] = {
            "instances": len(members),
            "mean_gap_percent": round(statistics.fmean(gaps), 3) if gaps else None,
            "gap_bks": sorted({r["gap_bks"] for r in members if r["gap_bks"]}),
            "mean_wall_seconds": round(statistics.fmean(r["wall_seconds"] for r in members), 3),
            "max_wall_seconds": max(r["wall_seconds"] for r in members),
            "all_feasible": all(r["feasible"] for r in members),
        }
    return out


def run(
    paths: list[Path], time_limit: float, engine: str | None, seed: int, echo: bool = False
) -> dict[str, Any]:
    """Every instance under `paths`, then the means per family."""
    rows = []
    for path in instance_files(paths):
        row = run_instance(path, time_limit, engine, seed)
        rows.append(row)
        if echo:
            typer.echo(format_row(row), err=True)
    return {
        "time_limit": time_limit,
        "engine": engine or "auto",
        "seed": seed,
        "instances": rows,
        "groups": summarise(rows),
    }


HEADER = (
    f"{'instance':<10} {'group':<15} {'n':>5} {'veh':>4} {'distance':>10} {'wall s':>7} "
    f"{'feasible':>8}  gap % (BKS)"
)


def format_row(row: dict[str, Any]) -> str:
    gaps = "; ".join(
        f"{g['gap_percent']:+.2f} ({objective} {g['bks']:.2f}, {g['bks_vehicles']} veh)"
        for objective, g in row["gaps"].items()
    )
    return (
        f"{row['instance']:<10} {row['group']:<15} {row['customers']:>5} {row['vehicles']:>4} "
        f"{row['distance']:>10.2f} {row['wall_seconds']:>7.2f} "
        f"{'yes' if row['feasible'] else 'NO':>8}  {gaps or '-'}"
    )


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"time limit {report['time_limit']} s, engine {report['engine']}, seed {report['seed']}",
        HEADER,
    ]
    lines += [format_row(r) for r in report["instances"]]
    lines.append("")
    lines.append(
        f"{'group':<15} {'count':>5} {'mean gap %':>10} {'vs BKS':<22} {'mean s':>7} "
        f"{'max s':>6} {'feasible':>8}"
    )
    for name, g in report["groups"].items():
        mean = "-" if g["mean_gap_percent"] is None else f"{g['mean_gap_percent']:+.2f}"
        lines.append(
            f"{name:<15} {g['instances']:>5} {mean:>10} {'/'.join(g['gap_bks']) or '-':<22} "
            f"{g['mean_wall_seconds']:>7.2f} {g['max_wall_seconds']:>6.2f} "
            f"{'all' if g['all_feasible'] else 'NOT ALL':>8}"
        )
    return "\n".join(lines)


@app.command()
def vrp(
    paths: Annotated[list[Path], typer.Argument(help="Instance files or folders of them.")],
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Wall-clock seconds per instance.")
    ] = 2.0,
    engine: Annotated[
        str | None, typer.Option(help="Engine name (default: chosen per problem).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the engines.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Solve VRPTW/PDPTW benchmark instances and compare with their best-known solutions."""
    from lastmile.routing.solver.engines import ENGINES

    if engine is not None and engine not in ENGINES:
        raise typer.BadParameter(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    report = run(paths, time_limit, engine, seed)
    typer.echo(json.dumps(report, indent=2) if as_json else format_report(report))
