"""The named mutations (tests/mutations/named.py) still find their text: a reshaping
that moves or rewrites the code they mutate must move them along, or the mutation
run would stop on them instead of testing anything."""

from __future__ import annotations

import pytest

from tests.mutations.named import MUTATIONS, ROOT

# Under mutmut the tree is a copy (mutants/) whose code is rewritten to switch
# mutants on and off: the texts are not there to find.
pytestmark = pytest.mark.skipif(ROOT.name == "mutants", reason="a mutmut copy of the tree")


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda mutation: mutation.name)
def test_the_text_to_mutate_is_in_its_file_once(mutation) -> None:
    text = (ROOT / "src" / "tidings" / mutation.path).read_text()
    assert text.count(mutation.before) == 1
    assert mutation.before != mutation.after


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda mutation: mutation.name)
def test_the_tests_it_names_exist(mutation) -> None:
    for path in mutation.tests:
        assert (ROOT / path).is_file(), path
