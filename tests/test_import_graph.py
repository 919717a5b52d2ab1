"""The layers written in docs/design.md hold in the code: no module imports a higher layer (at the
top of the file or inside a function), every package has its place, one module lives outside a
package, and no function runs over 60 lines but the CLI's parser table."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "editor_rl"
MAX_LINES = 60
LONG_ALLOWED = {("editor_rl/apps/cli.py", "build_parser")}  # a table of arguments, read row by row


def layer_order() -> list[str]:
    """The layers of docs/design.md's "Layers" list, bottom first."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. `([a-z_]+)`", section, flags=re.M)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``editor_rl`` import in the file, wherever it stands."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("editor_rl"):
            names = [f"editor_rl.{a.name}" for a in node.names] if node.module == "editor_rl" else [node.module]
            out += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("editor_rl")]
    return out


def layer_of(module_path: Path) -> str:
    rel = module_path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]


def test_design_names_every_package_once():
    order = layer_order()
    assert len(order) == len(set(order)) and len(order) >= 10, order
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert packages | modules == set(order), (packages | modules) ^ set(order)
    assert len(modules) <= 1, modules  # at most one module outside a package


def test_no_module_imports_a_higher_layer():
    rank = {name: k for k, name in enumerate(layer_order())}
    against = []
    for f in sorted(PACKAGE.rglob("*.py")):
        if f.parent == PACKAGE and f.name == "__init__.py":
            continue
        mine = layer_of(f)
        for line, module in imports(f):
            theirs = module.split(".")[1]
            assert theirs in rank, f"{f.relative_to(ROOT)}:{line} imports {module}, a package docs/design.md does not place"
            if theirs != mine and rank[theirs] > rank[mine]:
                against.append(f"{f.relative_to(ROOT)}:{line} ({mine}) imports {module} ({theirs})")
    assert not against, "imports against the layer order:\n" + "\n".join(against)


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from editor_rl.apps.cli import main\n    return main\n")
    assert imports(f) == [(2, "editor_rl.apps.cli")]


def test_no_function_runs_over_60_lines():
    long = []
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = str(f.relative_to(ROOT))
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (rel, node.name) not in LONG_ALLOWED:
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{rel}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "split into named steps:\n" + "\n".join(long)
