"""The course examples (examples/NN_*.py) run in --fast mode, print their table and save their PNG."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib",
                    reason="matplotlib is not installed (extra 'plot'): the examples' plots cannot be checked")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("[0-9][0-9]_*.py"))


def test_all_nine_examples_are_there():
    assert [name[:2] for name in EXAMPLES] == [f"{i:02d}" for i in range(1, 10)], EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES, ids=[n[:-3] for n in EXAMPLES])
def test_example_runs_fast(name, tmp_path):
    # the --fast networks are tiny: one thread (unless the environment says otherwise) keeps the test
    # quick on a shared machine, where waiting for a descheduled second thread costs more than it gains
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--fast", "--out", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = proc.stdout
    assert re.search(r"^-{3,}(\s+-{3,})+$", out, re.M), f"{name} printed no table:\n{out}"
    numbers = re.findall(r"\d+\.\d+", out)
    assert len(numbers) >= 5, f"{name} printed too few numbers:\n{out}"
    png = tmp_path / (name[:-3] + ".png")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", \
        f"{name} wrote no PNG: {os.listdir(tmp_path)}"
    assert "Traceback" not in proc.stderr, proc.stderr
