"""One core, two front ends: the core never imports Textual; the CLI starts without TensorFlow."""

import ast
import subprocess
import sys
import time
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "kwtui" / "core"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_modules_never_import_textual():
    offenders = [p.name for p in CORE.rglob("*.py") if "textual" in imported_modules(p)]
    assert offenders == []


def test_core_import_does_not_load_textual_at_runtime():
    code = (
        "import sys, importlib, pkgutil, kwtui.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('kwtui.core.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_is_fast_and_never_imports_tensorflow():
    code = (
        "import sys\n"
        "sys.argv = ['kwtui', '--help']\n"
        "from kwtui.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({n.split('.')[0] for n in sys.modules} & {'tensorflow', 'keras', 'textual', 'tflite_micro'})\n"
        "print('HEAVY', heavy)"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - start
    assert "HEAVY []" in out
    assert "Usage" in out
    assert elapsed < 3.0  # generous for a loaded CI machine; typically ~0.2 s


def test_an_internal_error_is_one_line_with_the_traceback_in_a_file(tmp_path):
    """A bug (not a user error) still gives one line and exit 1; the traceback goes to the log folder."""
    import os

    code = (
        "import sys\n"
        "import kwtui.core.pipeline as p\n"
        "def broken(*a, **k):\n    raise ZeroDivisionError('boom')\n"
        "p.run_stage = broken\n"
        "sys.argv = ['kwtui', 'features', 'presets/commands.toml']\n"
        "from kwtui.cli.main import main\n"
        "main()\n"
    )
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "HOME": str(tmp_path)}
    env.pop("KWTUI_DEBUG", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error (ZeroDivisionError: boom)" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    logs = list(tmp_path.rglob("crash-*.log"))
    assert len(logs) == 1 and "ZeroDivisionError" in logs[0].read_text()
