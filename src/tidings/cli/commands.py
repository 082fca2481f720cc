"""What each `tidings` sub-command does, once settings are loaded."""

from __future__ import annotations

import argparse
import logging
import socket

from tidings.cli import migrations, secret_keys, tokens
from tidings.cli.arguments import command_argv
from tidings.client import trigger
from tidings.config import Settings
from tidings.serve import api_processes
from tidings.serve.priority import lower_worker_priority
from tidings.serve.runtime import Inherited, run_services

log = logging.getLogger("tidings")


async def dispatch(args: argparse.Namespace, settings: Settings) -> None:
    if args.command == "serve":
        if settings.api_processes > 1:
            api, worker = command_argv("api", args), command_argv("worker", args)
            await api_processes.run(settings, api, worker)
        else:
            await run_services(settings, api=True, worker=True)
    elif args.command == "api":
        await _api(args, settings)
    elif args.command == "worker":
        lower_worker_priority(settings.worker_nice)
        # parent_pid: the worker of `serve --api-processes N`, which stops with it.
        await run_services(settings, api=False, worker=True, parent_pid=args.parent_pid)
    elif args.command == "migrate":
        await migrations.run(settings, status_only=args.status)
    elif args.command == "token":
        await tokens.run(args, settings)
    elif args.command == "secrets":
        await secret_keys.run(args, settings)
    elif args.command == "trigger":
        await trigger.run(args)
    elif args.command == "listen":
        from tidings.client import listen  # aiohttp and rich: only this command needs them

        await listen.run(args)


async def _api(args: argparse.Namespace, settings: Settings) -> None:
    if args.listen_fd is not None:  # one of the processes below
        inherited = Inherited(socket.socket(fileno=args.listen_fd), args.parent_pid)
        await run_services(settings, api=True, worker=False, inherited=inherited)
        return
    if settings.api_processes > 1:
        await api_processes.run(settings, command_argv("api", args))
    else:
        await run_services(settings, api=True, worker=False)
