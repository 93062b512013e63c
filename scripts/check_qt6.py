"""Find Qt5-only code that would break the plugin on QGIS 4 (Qt 6 / PyQt6), keeping QGIS 3.22 working.

An AST scan, run by ``make lint``. It reports, one line per finding (``path:line:col: message``):

- unscoped enum members (``Qt.AlignLeft``, ``QMessageBox.Yes``, ``Qgis.Info``): PyQt6 only exposes
  them scoped (``Qt.AlignmentFlag.AlignLeft``). The enums are read from the installed PyQt5 and QGIS
  bindings (sip enum types), not from a hand list, and the suggested scoped spelling is checked to
  resolve on them, i.e. on QGIS 3.22;
- scoped or plain names that the installed bindings (the oldest supported QGIS) do not have, so a
  name taken from a newer QGIS (``Qgis.WkbType.Point``, 3.30+) does not break 3.22;
- ``exec_()`` (removed in PyQt6: ``exec()``), classes removed in Qt 6 (``QRegExp``,
  ``QDesktopWidget``...), ``QVariant.<Type>`` field types (gone in Qt 6: see
  ``idf_hr_plugin.gis.qt_compat``), imports of PyQt5/PyQt6 instead of ``qgis.PyQt``, and
  ``QAction``/``QShortcut``/``QActionGroup`` imported from ``qgis.PyQt.QtGui`` (absent before QGIS
  3.34; ``qgis.PyQt.QtWidgets`` provides them on QGIS 3 and 4).

A line may opt out with a ``# qt6: ok (<why>)`` comment. Exit status: 0 clean, 1 findings, 2 usage.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PYQT5_MODULES = (
    "QtCore",
    "QtGui",
    "QtWidgets",
    "QtNetwork",
    "QtXml",
    "QtSvg",
    "QtPrintSupport",
    "QtSql",
    "QtTest",
)
QGIS_MODULES = ("qgis.core", "qgis.gui", "qgis.analysis")

REMOVED_CLASSES = {
    "QRegExp": "QRegExp is removed in Qt 6: use QRegularExpression",
    "QRegExpValidator": "QRegExpValidator is removed in Qt 6: use QRegularExpressionValidator",
    "QDesktopWidget": "QDesktopWidget is removed in Qt 6: use QScreen (QGuiApplication.primaryScreen())",
    "QGLWidget": "QGLWidget is removed in Qt 6: use QOpenGLWidget",
    "QMatrix": "QMatrix is removed in Qt 6: use QTransform",
    "QStringRef": "QStringRef is removed in Qt 6: use str",
    "QTextCodec": "QTextCodec is not in Qt 6 core: decode with Python codecs",
}
# Moved from QtWidgets to QtGui in Qt 6; qgis.PyQt.QtWidgets re-exports them on QGIS 4, while
# qgis.PyQt.QtGui only has them from QGIS 3.34.
MOVED_TO_QTGUI = {"QAction", "QActionGroup", "QShortcut", "QUndoCommand", "QFileSystemModel"}
OPT_OUT = "# qt6: ok"
MODULE_NAMES = {*PYQT5_MODULES, "core", "gui", "analysis"}


@dataclass(frozen=True)
class Finding:
    """One Qt5-only use: where, and what to write instead."""

    path: str
    line: int
    col: int
    message: str
    # (start byte, end byte, replacement) on ``line``, when the fix is mechanical
    fix: tuple[int, int, str] | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


def _is_sip_enum(obj: object) -> bool:
    """True for a sip enum *type* (PyQt5/QGIS 3 bindings): its metaclass is ``sip.enumtype``."""
    return isinstance(obj, type) and type(obj).__name__ == "enumtype"


def _classes(module: object, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, type]]:
    for name in dir(module):
        if name.startswith("_"):
            continue
        try:
            obj = getattr(module, name)
        except Exception:  # noqa: BLE001,S112 - a binding attribute that cannot be read is skipped
            continue
        if not isinstance(obj, type) or _is_sip_enum(obj):
            continue
        qual = f"{prefix}{name}"
        yield qual, obj
        if depth < 1:
            yield from _classes(obj, f"{qual}.", depth + 1)


def _scope_name(cls: type, enum_type: type) -> str | None:
    """The attribute of ``cls`` that is ``enum_type`` (its own name first, then any alias)."""
    if getattr(cls, enum_type.__name__, None) is enum_type:
        return enum_type.__name__
    for name in dir(cls):
        if not name.startswith("_") and getattr(cls, name, None) is enum_type:
            return name
    return None


@dataclass
class ClassInfo:
    """What a binding class exposes: its attribute names and, per unscoped enum member, the scoped name."""

    attrs: frozenset[str]
    enums: frozenset[str]
    scoped: dict[str, str]
    enum_types: frozenset[str]
    methods: dict[str, str]


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets and parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _param_types(doc: str, name: str) -> Iterator[list[str]]:
    """Per overload in a sip docstring (``name(self, a0: Qt.TextFormat)``), the parameter annotations."""
    for line in doc.splitlines():
        if not line.startswith(f"{name}("):
            continue
        depth, end = 0, None
        for i, ch in enumerate(line):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
            if depth == 0 and ch == ")":
                end = i
                break
        if end is None:
            continue
        inner = line[len(name) + 1 : end]
        params = [p for p in _split_top(inner) if p not in ("self", "*")]
        yield [p.split(":", 1)[1].split("=", 1)[0].strip() if ":" in p else "" for p in params]


NUMERIC_TYPES = {"", "int", "float", "Any", "object", "QVariant", "SupportsInt", "SupportsFloat", "bool"}


@lru_cache(maxsize=1)
def enum_only_params() -> dict[str, set[int]]:
    """Method name -> argument positions that take a Qt/QGIS enum and, in no binding class, a number.

    PyQt6 rejects a plain int there (``setTextFormat(1)``) where PyQt5 accepted it. The receiver's
    class is unknown to an AST scan, so a position counts only if no method of that name accepts a
    number there.
    """
    index = binding_index()
    enum_names = {name for info in index.values() for name in info.enum_types}
    takes_enum: dict[str, set[int]] = {}
    takes_number: dict[str, set[int]] = {}
    for info in index.values():
        for method, doc in info.methods.items():
            for types in _param_types(doc, method):
                for pos, annotation in enumerate(types):
                    inner = (
                        annotation[annotation.index("[") + 1 : -1] if annotation.endswith("]") else annotation
                    )
                    members = {m.strip() for m in _split_top(inner)} or {""}
                    if members & NUMERIC_TYPES:
                        takes_number.setdefault(method, set()).add(pos)
                    elif members & enum_names:
                        takes_enum.setdefault(method, set()).add(pos)
    return {m: positions - takes_number.get(m, set()) for m, positions in takes_enum.items()}


@lru_cache(maxsize=1)
def binding_index() -> dict[str, ClassInfo]:
    """Classes of the installed PyQt5 and QGIS bindings, keyed by their (dotted) Python name."""
    modules = []
    for name in PYQT5_MODULES:
        try:
            modules.append(importlib.import_module(f"PyQt5.{name}"))
        except ImportError:
            continue
    for name in QGIS_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    index: dict[str, ClassInfo] = {}
    for module in modules:
        for qual, cls in _classes(module):
            if qual in index:
                continue
            attrs = frozenset(dir(cls))
            enums: set[str] = set()
            scoped: dict[str, str] = {}
            methods: dict[str, str] = {}
            for attr in attrs:
                if attr.startswith("_"):
                    continue
                try:
                    value = getattr(cls, attr)
                except Exception:  # noqa: BLE001,S112
                    continue
                if _is_sip_enum(value):
                    enums.add(attr)
                    continue
                doc = getattr(value, "__doc__", None)
                if callable(value) and not isinstance(value, type) and isinstance(doc, str):
                    methods[attr] = doc
                # PyQt5 keeps enum members in the enclosing class: a member is a value of a sip enum type.
                enum_type = type(value)
                if not _is_sip_enum(enum_type):
                    continue
                owner = _scope_name(cls, enum_type)
                if owner is not None and getattr(getattr(cls, owner), attr, None) == value:
                    scoped[attr] = f"{qual}.{owner}.{attr}"
            enum_types = frozenset(f"{qual}.{e}" for e in enums)
            index[qual] = ClassInfo(attrs, frozenset(enums), scoped, enum_types, methods)
    return index


def _is_int_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _binding_class(path: str, bound: set[str]) -> tuple[str, ClassInfo] | None:
    """The binding class a dotted name designates (``Qt``, ``QtCore.Qt``, ``QgsFoo.Bar``), or None.

    Only names the module imports (or imported modules' attributes) count, so a local
    variable that happens to share a class name is not mistaken for it.
    """
    index = binding_index()
    parts = path.split(".")
    for start in range(len(parts)):
        key = ".".join(parts[start:])
        if key not in index:
            continue
        if (start == 0 and parts[0] in bound) or (start > 0 and parts[start - 1] in MODULE_NAMES):
            return key, index[key]
    return None


# Standard-library modules whose functions share names with Qt methods (os.open, socket.listen…).
NON_QT_MODULES = frozenset(
    {"os", "io", "socket", "sys", "gzip", "bz2", "lzma", "tarfile", "zipfile", "codecs"}
)


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.findings: list[Finding] = []
        self.bound: set[str] = set()

    def report(self, node: ast.AST, message: str, fix: tuple[int, int, str] | None = None) -> None:
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        if OPT_OUT in line:
            return
        if node.end_lineno != node.lineno:
            fix = None
        self.findings.append(Finding(self.path, node.lineno, node.col_offset + 1, message, fix))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.bound.add((alias.asname or alias.name).split(".")[0])
            if alias.name.split(".")[0] in ("PyQt5", "PyQt6"):
                self.report(
                    node, f"import {alias.name}: import Qt through qgis.PyQt (works on Qt 5 and Qt 6)"
                )
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            self.bound.add(alias.asname or alias.name)
            if alias.name in REMOVED_CLASSES:
                self.report(node, REMOVED_CLASSES[alias.name])
            if module == "qgis.PyQt.QtGui" and alias.name in MOVED_TO_QTGUI:
                self.report(
                    node,
                    f"{alias.name} from qgis.PyQt.QtGui needs QGIS 3.34: import it from "
                    "qgis.PyQt.QtWidgets (QGIS 3 and 4)",
                )
        if module.split(".")[0] in ("PyQt5", "PyQt6"):
            self.report(node, f"from {module} import: import Qt through qgis.PyQt (works on Qt 5 and Qt 6)")
        if module == "qgis.PyQt.Qt":
            self.report(node, "qgis.PyQt.Qt is gone in Qt 6: import from qgis.PyQt.QtCore/QtGui/QtWidgets")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name == "exec_":
            self.report(node, "def exec_: PyQt6 calls exec(); name it exec")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        if isinstance(receiver, ast.Name) and receiver.id in NON_QT_MODULES:
            pass  # os.open(path, flags, 0o644) is not QIODevice.open(mode)
        elif isinstance(node.func, ast.Attribute):
            positions = enum_only_params().get(node.func.attr, set())
            for pos, arg in enumerate(node.args):
                if pos in positions and _is_int_literal(arg):
                    self.report(
                        arg,
                        f"{node.func.attr}() gets the int {ast.unparse(arg)} where it takes an enum: "
                        "PyQt6 rejects ints, pass the scoped enum member",
                    )
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in REMOVED_CLASSES and isinstance(node.ctx, ast.Load):
            self.report(node, REMOVED_CLASSES[node.id])

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "exec_":
            end = node.end_col_offset or 0
            self.report(
                node,
                "exec_() is removed in PyQt6: call exec() (PyQt5 has it too)",
                (end - len("exec_"), end, "exec"),
            )
        if node.attr in REMOVED_CLASSES:
            self.report(node, REMOVED_CLASSES[node.attr])
        path = _dotted(node.value)
        # The inner chain is checked only when the outer one is not a binding class member: in
        # QtCore.Qt.AlignLeft, QtCore.Qt is fine; in Qgis.WkbType.Point, Qgis.WkbType is the issue.
        if path is None or not self._check_member(node, path):
            self.generic_visit(node)

    def _check_member(self, node: ast.Attribute, path: str) -> bool:
        """Check ``path.attr``; False when ``path`` is no binding class."""
        found = _binding_class(path, self.bound)
        if found is None:
            return False
        qual, info = found
        attr = node.attr
        shown = f"{path}.{attr}"
        if qual == "QVariant" and attr in info.scoped:
            self.report(
                node,
                f"{shown}: QVariant types are gone in Qt 6; use FIELD_TYPES / field_types() of idf_hr_plugin.gis.qt_compat",
            )
            return True
        if attr in info.scoped:
            scoped = path + info.scoped[attr][len(qual) :]
            self.report(
                node,
                f"unscoped enum {shown}: PyQt6 needs {scoped}",
                (node.col_offset, node.end_col_offset or 0, scoped),
            )
            return True
        if attr not in info.attrs:
            self.report(
                node,
                f"{shown} does not exist in the installed PyQt5/QGIS (the oldest supported): "
                "it would raise AttributeError there",
            )
        return True


def scan_source(source: str, path: str = "<string>") -> list[Finding]:
    """Qt5-only uses in one Python source."""
    tree = ast.parse(source, filename=path)
    scanner = _Scanner(path, source.splitlines())
    scanner.visit(tree)
    return sorted(scanner.findings, key=lambda f: (f.line, f.col))


def python_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The .py files under each path (a file is taken as is)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.py") if ".venv" not in p.parts)
        else:
            yield path


def scan_paths(paths: Iterable[Path]) -> list[Finding]:
    """Qt5-only uses in every Python file under ``paths``."""
    findings: list[Finding] = []
    for file in python_files(paths):
        findings.extend(scan_source(file.read_text(encoding="utf-8"), str(file)))
    return findings


def apply_fixes(findings: Iterable[Finding]) -> int:
    """Rewrite the mechanical findings (scoped enums, ``exec()``) in place; returns how many were fixed."""
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.fix is not None:
            by_file.setdefault(finding.path, []).append(finding)
    fixed = 0
    for path, items in by_file.items():
        lines = Path(path).read_bytes().split(b"\n")
        for finding in sorted(items, key=lambda f: (f.line, f.fix[0]), reverse=True):
            start, end, text = finding.fix
            raw = lines[finding.line - 1]
            lines[finding.line - 1] = raw[:start] + text.encode("utf-8") + raw[end:]
            fixed += 1
        Path(path).write_bytes(b"\n".join(lines))
    return fixed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to scan")
    parser.add_argument("--fix", action="store_true", help="rewrite unscoped enums and exec_() in place")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(
            f"check_qt6: no such file or folder: {', '.join(missing)}; pass existing paths.", file=sys.stderr
        )
        return 2
    if not binding_index():
        print(
            "check_qt6: PyQt5 is not importable; run it with the project venv (make lint).", file=sys.stderr
        )
        return 2
    findings = scan_paths(args.paths)
    if args.fix:
        fixed = apply_fixes(findings)
        print(f"check_qt6: rewrote {fixed} use(s); review the diff, then run again.", file=sys.stderr)
        findings = scan_paths(args.paths)
    for finding in findings:
        print(finding)
    if findings:
        print(f"check_qt6: {len(findings)} Qt5-only use(s) would break on QGIS 4 / Qt 6.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
