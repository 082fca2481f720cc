"""The fish completion script, `tidings completion fish`: fish's own `complete`
lines, each under a condition naming the command typed so far."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tidings.cli.completion import words
from tidings.cli.completion.shape import Command, Option

_HEAD = """\
# fish completion for tidings, written by `tidings completion fish`.
# Save it as ~/.config/fish/completions/tidings.fish, or load it with:
# tidings completion fish | source
"""

_WALK = """\
# The command typed so far: the words that name sub-commands, past options and
# their values.
function __tidings_command
    set -l command
    set -l expect_value 0
    for word in (commandline -opc)[2..-1]
        if test $expect_value = 1
            set expect_value 0
        else if string match -q -- '-*=*' $word
        else if string match -q -- '-*' $word
            if contains -- $word (__tidings_value_flags "$command")
                set expect_value 1
            end
        else if contains -- $word (__tidings_sub_commands "$command")
            set -a command $word
        end
    end
    echo "$command"
end

function __tidings_at --argument-names expected
    set -l command (__tidings_command)
    test "$command" = "$expected"
end

complete -c tidings -f
"""


def script(commands: Sequence[Command]) -> str:
    parts = [
        _HEAD,
        _by_command("sub_commands", {words.key(c): words.sub_command_names(c) for c in commands}),
        _by_command("value_flags", {words.key(c): words.value_flags(c) for c in commands}),
        _WALK,
    ]
    for command in commands:
        parts.append("\n".join(_completions(command)) + "\n")
    return "\n".join(parts)


def _completions(command: Command) -> Iterable[str]:
    at = f"-c tidings -n '__tidings_at \"{words.key(command)}\"'"
    for name, text in command.sub_commands:
        yield f"complete {at} -a {words.plain(name)} -d {_quote(text)}"
    if command.arguments:
        yield f"complete {at} -a '{' '.join(words.arguments(command))}'"
    for option in command.options:
        yield f"complete {at} {_option(option)}"


def _option(option: Option) -> str:
    names = []
    for flag in option.flags:
        short = not flag.startswith("--")
        names.append(f"-{'s' if short else 'l'} {words.plain(flag.lstrip('-'))}")
    if option.names_file:
        names.append("-r -F")
    elif option.choices and option.takes_value:
        names.append(f"-x -a '{' '.join(words.plain(c) for c in option.choices)}'")
    elif option.takes_value:
        names.append("-x")
    return f"{' '.join(names)} -d {_quote(option.help)}"


def _quote(text: str) -> str:
    """Single-quoted for fish, where a backslash escapes a quote or a backslash."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _by_command(name: str, lists: dict[str, list[str]]) -> str:
    """`__tidings_<name> COMMAND` prints the words of that command, one a line."""
    lines = [f"function __tidings_{name}", '    switch "$argv[1]"']
    for key, found in lists.items():
        if found:
            lines += [f"        case '{key}'", f"            printf '%s\\n' {' '.join(found)}"]
    return "\n".join([*lines, "    end", "end", ""])
