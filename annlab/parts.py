"""The user's own parts, named by an import path (Hydra's `_target_`): import, short names, fingerprints."""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import math
import operator
import os
import sys
from functools import cache
from typing import Any

# A user's activation by its short name -> its import path, registered when a config names it
# (annlab.config), so that every part of annlab that builds an activation by name builds it.
USER_ACTIVATIONS: dict[str, str] = {}


class PartImportError(ValueError):
    """A user's part that does not import here (a report leaves out the pages that need it)."""


# Where a user's module is looked for besides sys.path: the folder annlab was launched from
# (joblib and SLURM workers inherit it through this variable).
LAUNCH_DIR_ENV = "ANNLAB_LAUNCH_DIR"


# A user's init by its short name -> (its import path, the formula of Var(W_ij) or None: measured).
USER_INITS: dict[str, tuple[str, str | None]] = {}


def short_name(target: str) -> str:
    """The short name a part gets when its config names none: the import path's last part, lower case."""
    return target.rsplit(".", 1)[-1].lower()


def register_activation(name: str, target: str) -> None:
    """`name` now builds the activation at `target`; ValueError where it names another one already."""
    known = USER_ACTIVATIONS.get(name)
    if known is not None and known != target:
        raise ValueError(
            f"two user activations share the short name {name!r}: {known} and {target}; give each its own name"
        )
    USER_ACTIVATIONS[name] = target


def register_init(name: str, target: str, variance: str | None) -> None:
    """`name` now draws weights with the function at `target`; ValueError where it names another."""
    known = USER_INITS.get(name)
    if known is not None and known != (target, variance):
        raise ValueError(
            f"two user inits share the short name {name!r}: {known[0]} and {target}; give each its own name"
        )
    USER_INITS[name] = (target, variance)


_OPERATORS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos,
}  # fmt: skip


def formula_names(formula: str) -> set[str]:
    """The names a variance formula uses; ValueError where it is not plain arithmetic of names
    and numbers (+ - * / **, parentheses, sqrt)."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"variance={formula!r} is not a formula: {err.msg}") from None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == "sqrt" and len(node.args) == 1):
                raise ValueError(f"variance={formula!r}: only sqrt(...) may be called")
        elif not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Load, *_OPERATORS)):
            raise ValueError(f"variance={formula!r}: only + - * / **, numbers and names are allowed")
    return names - {"sqrt"}


def evaluate(formula: str, values: dict[str, float]) -> float:
    """The variance formula's value for `values` (fan_in, fan_out and the init's params)."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(values[node.id])
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            return _OPERATORS[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Call):
            return math.sqrt(walk(node.args[0]))
        raise ValueError(f"variance={formula!r}: cannot evaluate {type(node).__name__}")

    return walk(ast.parse(formula, mode="eval"))


def launch_dirs() -> list[str]:
    """The folders a user's module may sit in: the launch folder, and the working folder."""
    return list(dict.fromkeys(d for d in (os.environ.get(LAUNCH_DIR_ENV), os.getcwd()) if d))


@cache
def import_object(target: str) -> Any:
    """The object at the import path `target` ("package.module.Name"); ValueError with the path
    and the import's own error where it does not import (the launch folder is importable)."""
    for folder in launch_dirs():
        if folder not in sys.path:
            sys.path.append(folder)
    module_name, _, attribute = target.rpartition(".")
    if not module_name:
        raise ValueError(f"_target_={target!r} is not an import path (module.Name)")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or the module's own error while it runs
        raise PartImportError(
            f"_target_={target}: module {module_name!r} does not import here ({type(err).__name__}: {err}); "
            f"annlab looks in sys.path and the launch folder ({', '.join(launch_dirs())})"
        ) from None
    if not hasattr(module, attribute):
        raise PartImportError(f"_target_={target}: module {module_name!r} has no attribute {attribute!r}")
    return getattr(module, attribute)


@cache
def fingerprint(target: str) -> str:
    """What a run of the part at `target` ran: the hash of the source file that defines it, or,
    for compiled code, its package's name and version; editing the part changes it."""
    obj = import_object(target)
    try:
        path = inspect.getsourcefile(obj) or ""
    except TypeError:  # a builtin or compiled function
        path = ""
    if path.endswith(".py") and os.path.isfile(path):
        with open(path, "rb") as handle:
            return "sha256:" + hashlib.sha256(handle.read()).hexdigest()[:20]
    package = (getattr(obj, "__module__", None) or target).split(".")[0]
    try:
        from importlib.metadata import version

        return f"{package}=={version(package)}"
    except Exception:
        return f"{package}=={getattr(sys.modules.get(package), '__version__', 'unknown')}"
