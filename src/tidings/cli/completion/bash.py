"""The bash completion script, `tidings completion bash`.

Data as `case` functions and the walk over the typed words as one function, in the
bash of macOS (3.2) as well: no associative arrays."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.cli.completion import words
from tidings.cli.completion.shape import Command

_HEAD = """\
# bash completion for tidings, written by `tidings completion bash`.
# Load it from ~/.bashrc with: source <(tidings completion bash)
# or save it as /etc/bash_completion.d/tidings.
"""

_WALK = """\
_tidings() {
    local cur=${COMP_WORDS[COMP_CWORD]} command='' word option='' i expect_value=0
    # The command typed so far: the words that name sub-commands, past options
    # and their values.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((expect_value)); then
            expect_value=0
        elif [[ $word == = ]]; then
            expect_value=1  # bash splits --flag=value at "=": the value follows
        elif [[ $word == -* ]]; then
            [[ " $(_tidings_value_flags "$command") " == *" $word "* ]] && expect_value=1
        elif [[ " $(_tidings_sub_commands "$command") " == *" $word "* ]]; then
            command=${command:+$command }$word
        fi
    done
    if [[ $cur == = ]]; then
        option=${COMP_WORDS[COMP_CWORD-1]} cur=''
    elif ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD-1]} == = ]]; then
        option=${COMP_WORDS[COMP_CWORD-2]}
    elif ((expect_value)); then
        option=${COMP_WORDS[COMP_CWORD-1]}
    fi
    if [[ -n $option ]]; then
        local values
        values=$(_tidings_values "$command $option")
        if [[ $values == FILE ]]; then
            compopt -o filenames 2>/dev/null  # bash 4+, and only while completing
            COMPREPLY=($(compgen -f -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$values" -- "$cur"))
        fi
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_tidings_flags "$command")" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(_tidings_sub_commands "$command") \\
            $(_tidings_arguments "$command")" -- "$cur"))
    fi
}

complete -F _tidings tidings
"""


def script(commands: Sequence[Command]) -> str:
    parts = [
        _HEAD,
        _by_command("sub_commands", {words.key(c): words.sub_command_names(c) for c in commands}),
        _by_command("flags", {words.key(c): words.flags(c) for c in commands}),
        _by_command("value_flags", {words.key(c): words.value_flags(c) for c in commands}),
        _by_command("arguments", {words.key(c): words.arguments(c) for c in commands}),
        _values(commands),
        _WALK,
    ]
    return "\n".join(parts)


def _by_command(name: str, lists: dict[str, list[str]]) -> str:
    """`_tidings_<name> COMMAND` echoes the words of that command."""
    cases = [
        f"        '{key}') echo '{' '.join(found)}' ;;" for key, found in lists.items() if found
    ]
    return _function(f"_tidings_{name}", "$1", cases)


def _values(commands: Sequence[Command]) -> str:
    """`_tidings_values 'COMMAND FLAG'` echoes what the flag's value can be (FILE:
    a file name)."""
    cases: list[str] = []
    for command in commands:
        prefix = f"{words.key(command)} " if command.words else " "
        for flag, found in words.values(command):
            cases.append(f"        '{prefix}{flag}') echo '{' '.join(found)}' ;;")
    return _function("_tidings_values", "$1", cases)


def _function(name: str, subject: str, cases: list[str]) -> str:
    return "\n".join([f"{name}() {{", f'    case "{subject}" in', *cases, "    esac", "}", ""])
