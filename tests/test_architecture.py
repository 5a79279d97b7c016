"""One core, two front ends: the core never imports Textual; the CLI starts without TensorFlow."""

import ast
import subprocess
import sys
import time
import typing
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
        "import kwtui.core.stages.pipeline as p\n"
        "def broken(*a, **k):\n    raise ZeroDivisionError('boom')\n"
        "p.run_command = broken\n"
        "sys.argv = ['kwtui', 'features', 'presets/commands.toml']\n"
        "from kwtui.cli.main import main\n"
        "main()\n"
    )
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "HOME": str(tmp_path)}
    env.pop("KWTUI_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1]
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error (ZeroDivisionError: boom)" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    logs = list(tmp_path.rglob("crash-*.log"))
    assert len(logs) == 1 and "ZeroDivisionError" in logs[0].read_text()


# --- layers: who may import whom (every import, also those inside functions) -----------------------

KWTUI = CORE.parent
LAYERS = {  # package -> kwtui packages it may import (besides itself and the leaf modules below)
    "kwtui.core.io": {"kwtui.core.data.spectrogram", "kwtui.core.data.frontends"},  # a store records its feature
    "kwtui.core.data": {"kwtui.core.io"},
    "kwtui.core.features": {"kwtui.core.io", "kwtui.core.data"},
    "kwtui.core.device": {"kwtui.core.io", "kwtui.core.data"},
    "kwtui.core.tflite": set(),  # the runtime's own questions: an arena probe in a child process, the pinned op set
    "kwtui.core.stages": {"kwtui.core"},
    "kwtui.cli": {"kwtui.core", "kwtui.tui.app"},
    "kwtui.tui": {"kwtui.core"},
    "kwtui.core.preset": {"kwtui.core.io"},
    "kwtui.core.model": {"kwtui.core.data"},
    # the model's STREAM mode and its conversion, shared by both deployment targets
    "kwtui.core.streaming": {"kwtui.core.data", "kwtui.core.features", "kwtui.core.device"},
    # the deployed detector on the host (kwtui detect / listen)
    "kwtui.core.detect": {"kwtui.core.data", "kwtui.core.device", "kwtui.core.streaming", "kwtui.core.io"},
    # detection figures from a model's scores (kwtui evaluate and the benchmarks)
    "kwtui.core.detection_curve": {"kwtui.core.data"},
    # the chosen point's figures on audio it was not chosen on (kwtui evaluate)
    "kwtui.core.cross_fit": {"kwtui.core.data", "kwtui.core.detection_curve"},
    # the trained model as float TFLite for evaluation, made in a child process and kept in the run folder
    "kwtui.core.float_model": {"kwtui.core.io", "kwtui.core.tflite"},
    "kwtui.__main__": {"kwtui.cli"},
}
LEAVES = {
    "kwtui.core.choices",
    "kwtui.core.registry",
    "kwtui.core.errors",
    "kwtui.core.events",
    "kwtui.core.stats",
    "kwtui.core.preset",
    "kwtui.core.native",
    "kwtui.core.monitor",
    "kwtui.core.postprocess",
    "kwtui.core.model",
    "kwtui.core.operating_point",
    "kwtui.core.verdict",
    "kwtui.core.report",
    "kwtui.core.esphome_rules",
    "kwtui.core.recipes",
}  # one-concern modules any layer may use


def _module_imports(path: Path) -> set[str]:
    """The kwtui modules (and names in them) a file imports, relative imports resolved against its package."""
    names = set()
    package = _name(path).split(".") if path.name == "__init__.py" else _name(path).split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module:
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("kwtui.")}


def _name(path: Path) -> str:
    return ".".join(path.relative_to(KWTUI.parent).with_suffix("").parts).removesuffix(".__init__")


def _allowed(module: str, target: str) -> bool:
    if any(target == leaf or target.startswith(leaf + ".") for leaf in LEAVES):
        return True
    layer = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    if layer is None:  # a leaf module of core: only other leaves
        return False
    own = target == layer or target.startswith(layer + ".")
    return own or any(target == p or target.startswith(p + ".") for p in LAYERS[layer])


def test_layers_are_respected():
    """io <- data <- features/device <- stages <- cli/tui; core never imports a front end."""
    violations = []
    for path in KWTUI.rglob("*.py"):
        module = _name(path)
        for target in _module_imports(path):
            if target in ("kwtui", "kwtui.core"):
                continue
            if not _allowed(module, target):
                violations.append(f"{module} -> {target}")
    assert sorted(violations) == []


def test_no_import_cycles_between_front_end_modules():
    """Command modules share kwtui.cli.runtime instead of importing main (only the entry point, launch.py, loads it);
    steps talk to WizardServices."""
    for path in (KWTUI / "cli").glob("*.py"):
        if path.name not in ("main.py", "launch.py"):
            assert "kwtui.cli.main" not in _module_imports(path), path.name
    for path in (KWTUI / "tui").rglob("*.py"):
        if path != KWTUI / "tui" / "app.py":  # every other wizard module, in any folder
            assert not {t for t in _module_imports(path) if t.startswith("kwtui.tui.app")}, path.name


def test_no_module_imports_another_modules_private_names():
    """A leading underscore means "this module only": what another module needs is public, named for it."""
    found = []
    for path in [*KWTUI.rglob("*.py"), *(KWTUI.parent / "bench").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kwtui"):
                found += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert found == []


def test_every_text_field_of_the_wizard_keeps_key_order():
    """Textual's own Input runs Backspace and the other editing keys after the characters typed behind them in a
    burst (tests/tui/test_real_terminal.py::test_no_key_is_lost_or_reordered_in_bursts): the wizard uses
    kwtui.tui.widgets.textinput.Input everywhere."""
    offenders = []
    root = CORE.parents[1]
    for path in sorted((root / "kwtui" / "tui").rglob("*.py")):
        if path.name == "textinput.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # imports over several lines too
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "textual.widgets"
                and "Input" in {alias.name for alias in node.names}
            ):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_each_choice_is_defined_once_and_implemented_exactly():
    """A model or frontend name exists in kwtui.core.choices, and only there: the preset validates against it and
    every table that implements a choice has exactly those keys."""
    from kwtui.core import choices, model, preset
    from kwtui.core.data import frontends

    assert set(model.BUILDERS) == set(choices.MODELS) == set(model.FRONTEND_OF)
    assert set(frontends.FRONTENDS) == set(choices.FRONTENDS) == set(model.FRONTEND_OF.values())
    hints = {cls: typing.get_type_hints(cls) for cls in (preset.TrainSection, preset.FeaturesSection)}
    assert typing.get_args(hints[preset.TrainSection]["model"]) == choices.MODELS
    assert typing.get_args(hints[preset.FeaturesSection]["frontend"]) == choices.FRONTENDS
    literals = []
    for path in KWTUI.rglob("*.py"):
        if path.name != "choices.py":
            literals += [
                path.name
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Tuple)
                and {getattr(e, "value", None) for e in node.elts} >= {"cnn", "dscnn", "dscnn_s", "stream"}
            ]
    assert literals == [], f"the model list is spelled out again in {literals}"
