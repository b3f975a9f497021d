"""Reading our own source for the structural tests (no SQL outside the store, no OBIS literal outside the map)."""

import ast


def docstring_nodes(tree) -> set:
    """id() of every docstring's constant node in `tree`: prose, which may quote what code may not."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out
