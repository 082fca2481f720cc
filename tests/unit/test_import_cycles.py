"""No module of the package imports, directly or through others, a module that
imports it: the layers contract (`make lint`) keeps packages in order, and this keeps
modules inside them from circling back. Imports made only for type checking do not
count; they never run."""

from __future__ import annotations

import grimp


def test_no_module_takes_part_in_an_import_cycle() -> None:
    graph = grimp.build_graph("tidings", exclude_type_checking_imports=True)
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.add(" -> ".join((module, *chain)))
    assert sorted(cycles) == []
