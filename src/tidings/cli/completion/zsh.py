"""The zsh completion script, `tidings completion zsh`: sub-commands and options
with their descriptions, values from their choices or file names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tidings.cli.completion import words
from tidings.cli.completion.shape import Command

_HEAD = """\
#compdef tidings
# zsh completion for tidings, written by `tidings completion zsh`.
# Save it as _tidings in a folder of $fpath, or load it from ~/.zshrc, after
# compinit, with: source <(tidings completion zsh)
"""

_WALK = """\
_tidings() {
    local command='' word option='' cur=${words[CURRENT]} i expect_value=0
    local -a reply names
    # The command typed so far: the words that name sub-commands, past options
    # and their values.
    for ((i = 2; i < CURRENT; i++)); do
        word=${words[i]}
        if ((expect_value)); then
            expect_value=0
        elif [[ $word == -*=* ]]; then
            :
        elif [[ $word == -* ]]; then
            _tidings_value_flags "$command"
            (( ${reply[(Ie)$word]} )) && expect_value=1
        else
            _tidings_sub_commands "$command"
            names=(${reply%%:*})
            (( ${names[(Ie)$word]} )) && command=${command:+$command }$word
        fi
    done
    if ((expect_value)); then
        option=${words[CURRENT-1]}
    elif [[ $cur == -*=* ]]; then
        option=${cur%%=*}
        compset -P '*='
    fi
    local ret=1  # 0 once some candidates were added, as the completion system expects
    if [[ -n $option ]]; then
        _tidings_values "$command $option"
        if [[ $reply == FILE ]]; then
            _files && ret=0
        elif (( $#reply )); then
            compadd -a reply && ret=0
        fi
    elif [[ $cur == -* ]]; then
        _tidings_flags "$command"
        _describe -t options option reply && ret=0
    else
        _tidings_arguments "$command"
        names=("${reply[@]}")
        (( $#names )) && compadd -a names && ret=0
        _tidings_sub_commands "$command"
        (( $#reply )) && _describe -t commands command reply && ret=0
    fi
    return ret
}

if [[ ${funcstack[1]} == _tidings ]]; then
    _tidings "$@"  # autoloaded from $fpath: this file is the function's body
else
    compdef _tidings tidings
fi
"""


def script(commands: Sequence[Command]) -> str:
    described_subs = {
        words.key(c): [_item(name, text) for name, text in c.sub_commands] for c in commands
    }
    described_flags = {
        words.key(c): [_item(flag, o.help) for o in c.options for flag in o.flags] for c in commands
    }
    parts = [
        _HEAD,
        _by_command("sub_commands", described_subs),
        _by_command("flags", described_flags),
        _by_command("value_flags", {words.key(c): words.value_flags(c) for c in commands}),
        _by_command("arguments", {words.key(c): words.arguments(c) for c in commands}),
        _values(commands),
        _WALK,
    ]
    return "\n".join(parts)


def _item(name: str, description: str) -> str:
    """`name:description`, as _describe takes it, quoted for zsh."""
    return _quote(f"{words.plain(name)}:{description}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _by_command(name: str, lists: dict[str, list[str]]) -> str:
    """`_tidings_<name> COMMAND` sets `reply` to the words of that command."""
    cases = [_case(key, found) for key, found in lists.items() if found]
    return _function(f"_tidings_{name}", "$1", cases)


def _values(commands: Sequence[Command]) -> str:
    """`_tidings_values 'COMMAND FLAG'` sets `reply` to what the flag's value can be
    (FILE: a file name)."""
    cases: list[str] = []
    for command in commands:
        prefix = f"{words.key(command)} " if command.words else " "
        cases.extend(_case(prefix + flag, found) for flag, found in words.values(command))
    return _function("_tidings_values", "$1", cases)


def _case(subject: str, found: Iterable[str]) -> str:
    return f"        ('{subject}') reply=({' '.join(found)}) ;;"


def _function(name: str, subject: str, cases: list[str]) -> str:
    lines = [f"{name}() {{", f'    case "{subject}" in', *cases, "        (*) reply=() ;;"]
    return "\n".join([*lines, "    esac", "}", ""])
